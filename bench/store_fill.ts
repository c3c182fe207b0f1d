// Fast writer for big file stores: appends 128 B messages on subject bench.js to stream BENCH of a store
// made by a server (`-js -sd DIR` and natsbench's stream), straight through the file store, until it holds N
// (no server, no protocol: a 50M store in minutes, not an hour). Usage: bun bench/store_fill.ts DIR N
import { FileStorage } from "../adapters/storage/file_store.ts";

const [dir, nArg] = [process.argv[2], process.argv[3]];
if (!dir || !nArg) throw new Error("usage: bun bench/store_fill.ts DIR N");
const n = Number(nArg);
const st = new FileStorage(dir, 0);
const b = st.openStream("BENCH");
const ix = b.ownIndex?.();
if (ix === undefined) throw new Error("not a file store");
const data = new Uint8Array(128).fill(120);
let seq = ix.last() ?? 0;
const t0 = performance.now();
const time = Date.now();
while (seq < n) {
  seq++;
  b.append({ seq, subject: "bench.js", data, time: time + seq / 1000 });
  if (seq % 1_000_000 === 0) console.log(`${seq} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
st.close();
console.log(`stored ${seq} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
