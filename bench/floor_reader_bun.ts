// The floor of any Bun TCP server under a publish-only load (issue 14 item 1): a do-nothing NATS-ish reader that
// sends INFO on accept, discards every read (each one detached at once, as Petrel's Bun transport recycles its
// large reads, so that dead reads do not wait for a collection), and answers PONG when the bytes read so far end
// with PING (natsbench's publisher waits for the PONG, so its PING is the last thing read). Bun.listen as Petrel's
// transport uses it. Compare its RSS at the end of pub-16 with Petrel's, interleaved, from the worktree root:
//   /work/wt/bench.sh BASE --server-bin "node_modules/.bin/bun run bench/floor_reader_bun.ts" \
//     --server-template "{bin} {port}" --name bun-floor --vs "node_modules/.bin/bun run mod.ts" \
//     --vs-template "{bin} -c {conf}" --vs-name petrel-bun --rounds 3 --duration 5 --scenarios pub-16
// Only pub-16 and pub-1k make sense: it delivers nothing.
const port = Number(Bun.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error(`usage: floor_reader_bun.ts PORT (got ${Bun.argv[2]})`);
const enc = new TextEncoder();
const info = enc.encode(`INFO {"server_id":"floor","version":"2.9.10","proto":1,"max_payload":1048576,"headers":true}\r\n`);
const ping = enc.encode("PING\r\n");
const pong = enc.encode("PONG\r\n");

interface Tail {
  last: Uint8Array; // the last bytes read, across reads
}

function endsWithPing(tail: Uint8Array): boolean {
  for (let i = 0; i < ping.length; i++) if (tail[i] !== ping[i]) return false;
  return true;
}

Bun.listen<Tail>({
  hostname: "127.0.0.1",
  port,
  socket: {
    open(s) {
      s.data = { last: new Uint8Array(ping.length) };
      s.write(info);
    },
    data(s, d) {
      const tail = s.data.last;
      const n = d.length;
      if (n >= tail.length) tail.set(d.subarray(n - tail.length, n));
      else {
        tail.copyWithin(0, n);
        tail.set(d, tail.length - n);
      }
      if (n >= 16 * 1024) {
        try {
          (d.buffer as ArrayBuffer).transfer(0);
        } catch {
          // not detachable: the collector frees it
        }
      }
      if (endsWithPing(tail)) s.write(pong);
    },
  },
});
