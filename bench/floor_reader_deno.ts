// The floor of any Deno TCP server under a publish-only load (issue 14 item 1): a do-nothing NATS-ish reader that
// sends INFO on accept, reads every connection into one 64 KiB buffer and discards it, and answers PONG when the
// bytes read so far end with PING (natsbench's publisher waits for the PONG, so its PING is the last thing read).
// Compare its RSS at the end of pub-16 with Petrel's, interleaved, from the worktree root:
//   /work/wt/bench.sh BASE --server-bin "node_modules/.bin/deno run -A bench/floor_reader_deno.ts" \
//     --server-template "{bin} {port}" --name deno-floor --vs "node_modules/.bin/deno run -A mod.ts" \
//     --vs-template "{bin} -c {conf}" --vs-name petrel-deno --rounds 3 --duration 5 --scenarios pub-16
// Only pub-16 and pub-1k make sense: it delivers nothing.
const port = Number(Deno.args[0]);
if (!Number.isInteger(port) || port <= 0) throw new Error(`usage: floor_reader_deno.ts PORT (got ${Deno.args[0]})`);
const enc = new TextEncoder();
const info = enc.encode(`INFO {"server_id":"floor","version":"2.9.10","proto":1,"max_payload":1048576,"headers":true}\r\n`);
const ping = enc.encode("PING\r\n");
const pong = enc.encode("PONG\r\n");

async function serve(conn: Deno.Conn): Promise<void> {
  await conn.write(info);
  const buf = new Uint8Array(64 * 1024);
  const tail = new Uint8Array(ping.length); // the last bytes read, across reads
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch {
      break;
    }
    if (n === null) break;
    if (n >= tail.length) tail.set(buf.subarray(n - tail.length, n));
    else {
      tail.copyWithin(0, n);
      tail.set(buf.subarray(0, n), tail.length - n);
    }
    if (tail.every((b, i) => b === ping[i])) {
      try {
        await conn.write(pong);
      } catch {
        break;
      }
    }
  }
  try {
    conn.close();
  } catch {
    // already closed
  }
}

for await (const conn of Deno.listen({ hostname: "127.0.0.1", port })) void serve(conn);
