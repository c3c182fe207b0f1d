// The floor of any Deno NATS-ish fan-out server (issue 14 item 1), as bench/floor_fanout_bun.ts is Bun's: INFO on
// accept, SUB/UNSUB by exact subject, PONG for PING, and each PUB copied as a MSG frame ("MSG <subject> <sid>" + the
// PUB line's own tail + the payload, bytes copied from the read, no strings, no garbage per message) into every
// matching subscriber's output buffer. One read loop per connection into one 64 KiB buffer (what Petrel's Deno
// transport reads at most), the unparsed rest moved to its front. One write loop per connection with Deno's normal
// `conn.write`, never two writes in flight: a subscriber fills one of two OUT_CAP buffers while the other is being
// written, and a publisher whose next frame does not fit waits (stops reading) until that subscriber's write is
// done: memory per subscriber is bounded by 2 x OUT_CAP. No wildcards, queue groups, headers or auth: a floor.
// Compare its RSS at the end of fanout-16 with Petrel's, interleaved, from the worktree root:
//   /work/wt/bench.sh BASE --server-bin "node_modules/.bin/deno run -A bench/floor_fanout_deno.ts" \
//     --server-template "{bin} {port}" --name deno-fanfloor --vs "node_modules/.bin/deno run -A mod.ts" \
//     --vs-template "{bin} -c {conf}" --vs-name petrel-deno --rounds 3 --duration 5 --scenarios fanout-16,pub-16
import { type FloorConn, type FloorSub, parse as parseFrames } from "./floor_fanout_parse.ts";
const port = Number(Deno.args[0]);
if (!Number.isInteger(port) || port <= 0) throw new Error(`usage: floor_fanout_deno.ts PORT (got ${Deno.args[0]})`);
const OUT_CAP = Number(Deno.env.get("FLOOR_OUT_KB") ?? 128) * 1024; // each of a subscriber's two output buffers
const READ = 64 * 1024;
const enc = new TextEncoder();
const info = enc.encode(`INFO {"server_id":"fanfloor","version":"2.9.10","proto":1,"max_payload":1048576,"headers":true}\r\n`);

type Sub = FloorSub<Conn>;

interface Conn extends FloorConn<Conn> {
  conn: Deno.TcpConn;
  out: Uint8Array; // filled by the parser
  tail: number;
  spare: Uint8Array; // being written (or free)
  writing: boolean;
  waiters: (() => void)[]; // publishers waiting for room
  subs: Map<string, Sub>;
  blockedOn: Conn | undefined;
}

const subs: Sub[] = [];

function room(c: Conn, n: number): boolean {
  return c.tail + n <= c.out.length;
}

/** Start the write loop if it is not running: it swaps the buffers and writes until nothing is left. */
function flush(c: Conn): void {
  if (c.writing || c.tail === 0) return;
  c.writing = true;
  void (async () => {
    try {
      while (c.tail > 0) {
        const buf = c.out;
        const len = c.tail;
        c.out = c.spare;
        c.spare = buf;
        c.tail = 0;
        let off = 0;
        while (off < len) off += await c.conn.write(buf.subarray(off, len));
        const w = c.waiters;
        c.waiters = [];
        for (const f of w) f();
      }
    } catch {
      // the subscriber went away
    }
    c.writing = false;
    const w = c.waiters;
    c.waiters = [];
    for (const f of w) f();
  })();
}

function parse(c: Conn, d: Uint8Array, from: number, to: number): number {
  return parseFrames(c, d, from, to, subs, room, (p, on) => (p.blockedOn = on));
}

function flushAll(): void {
  for (const sub of subs) flush(sub.conn);
}

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const c: Conn = { conn, out: new Uint8Array(OUT_CAP), tail: 0, spare: new Uint8Array(OUT_CAP), writing: false, waiters: [], subs: new Map(), blockedOn: undefined };
  c.out.set(info);
  c.tail = info.length;
  flush(c);
  let buf = new Uint8Array(READ);
  let have = 0;
  try {
    for (;;) {
      if (have === buf.length) { // one frame larger than the buffer
        const b = new Uint8Array(buf.length * 2);
        b.set(buf);
        buf = b;
      }
      const n = await conn.read(buf.subarray(have));
      if (n === null) break;
      have += n;
      let at = 0;
      for (;;) {
        at = parse(c, buf, at, have);
        flush(c);
        flushAll();
        const b = c.blockedOn;
        if (b === undefined) break;
        c.blockedOn = undefined;
        await new Promise<void>((r) => b.waiters.push(r)); // room once its write is done
      }
      buf.copyWithin(0, at, have);
      have -= at;
    }
  } catch {
    // reset
  }
  for (const sub of c.subs.values()) subs.splice(subs.indexOf(sub), 1);
  c.subs.clear();
  try {
    conn.close();
  } catch {
    // closed
  }
}

for await (const conn of Deno.listen({ hostname: "127.0.0.1", port })) void serve(conn);
