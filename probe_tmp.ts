import { connect, StringCodec } from "nats";
const sc = StringCodec();
for (const u of ["a", "c"]) {
  const a = await connect({ servers: "127.0.0.1:24941", user: u, pass: u });
  try { console.log(u, sc.decode((await a.request("$JS.API.INFO", sc.encode(""), { timeout: 1000 })).data).slice(0, 200)); } catch (e) { console.log(u, "ERR", (e as Error).message); }
  await a.close();
}
