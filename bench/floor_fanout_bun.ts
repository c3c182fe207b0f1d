// The floor of any Bun NATS-ish fan-out server (issue 14 item 1): the least a server must do for natsbench's pub/sub
// scenarios (fanout-16 = one publisher, four subscribers, 16 B): INFO on accept, SUB/UNSUB by exact subject, PONG
// for PING, and each PUB copied as a MSG frame ("MSG <subject> <sid>" + the PUB line's own tail + the payload, bytes
// copied from the read, no strings) into every matching subscriber's one output buffer. Output goes out with Bun's
// normal `socket.write` once per read; what the kernel refuses stays in the buffer until Bun's `drain`, and a
// publisher whose next frame does not fit a subscriber's buffer is paused (its unparsed input held) until every
// subscriber has room again: memory per subscriber is bounded by OUT_CAP. Reads >= 16 KiB are detached once parsed,
// as Petrel's Bun transport does. No wildcards, no queue groups, no headers, no auth: it is a floor, not a server.
// Compare its RSS at the end of fanout-16 with Petrel's, interleaved, from the worktree root:
//   /work/wt/bench.sh BASE --server-bin "node_modules/.bin/bun run bench/floor_fanout_bun.ts" \
//     --server-template "{bin} {port}" --name bun-fanfloor --vs "node_modules/.bin/bun run mod.ts" \
//     --vs-template "{bin} -c {conf}" --vs-name petrel-bun --rounds 3 --duration 5 --scenarios fanout-16,pub-16
import { type FloorConn, type FloorSub, parse as parseFrames } from "./floor_fanout_parse.ts";
const port = Number(Bun.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error(`usage: floor_fanout_bun.ts PORT (got ${Bun.argv[2]})`);
const OUT_CAP = Number(Bun.env.FLOOR_OUT_KB ?? 128) * 1024; // one subscriber's output buffer
const enc = new TextEncoder();
const info = enc.encode(`INFO {"server_id":"fanfloor","version":"2.9.10","proto":1,"max_payload":1048576,"headers":true}\r\n`);

type Sub = FloorSub<Conn>;

interface Conn extends FloorConn<Conn> {
  sock: Bun.Socket<Conn>;
  out: Uint8Array;
  head: number; // written up to here
  tail: number; // filled up to here
  held: Uint8Array; // unparsed input (a partial frame, or all of it while paused)
  heldLen: number;
  paused: boolean;
  subs: Map<string, Sub>;
}

const subs: Sub[] = [];
const blocked = new Set<Conn>(); // publishers paused for room

function room(c: Conn, n: number): boolean {
  if (c.tail + n <= c.out.length) return true;
  if (c.head > 0) {
    c.out.copyWithin(0, c.head, c.tail);
    c.tail -= c.head;
    c.head = 0;
  }
  return c.tail + n <= c.out.length;
}

function flush(c: Conn): void {
  if (c.tail === c.head) return;
  const n = c.sock.write(c.out, c.head, c.tail - c.head);
  if (n > 0) c.head += n;
  if (c.head === c.tail) c.head = c.tail = 0;
}

function parse(c: Conn, d: Uint8Array, from: number, to: number): number {
  return parseFrames(c, d, from, to, subs, room, (p) => blocked.add(p));
}

function hold(c: Conn, d: Uint8Array, from: number, to: number): void {
  const n = to - from;
  if (n > c.held.length) {
    const h = new Uint8Array(Math.max(n, c.held.length * 2, 4096));
    h.set(c.held.subarray(0, c.heldLen));
    c.held = h;
  }
  c.held.set(d.subarray(from, to), 0);
  c.heldLen = n;
}

function flushAll(): void {
  for (const sub of subs) flush(sub.conn);
}

/** Parse what c holds plus `d`; pause c when a subscriber has no room. */
function feed(c: Conn, d: Uint8Array): void {
  let buf = d;
  let len = d.length;
  if (c.heldLen > 0) {
    const need = c.heldLen + d.length;
    if (need > c.held.length) {
      let size = c.held.length * 2;
      while (size < need) size *= 2;
      const h = new Uint8Array(size);
      h.set(c.held.subarray(0, c.heldLen));
      c.held = h;
    }
    c.held.set(d, c.heldLen);
    buf = c.held;
    len = need;
  }
  let stop = 0;
  for (;;) {
    stop = parse(c, buf, stop, len);
    flush(c);
    flushAll();
    if (!blocked.has(c) || subs.some((s) => s.conn.tail > s.conn.head)) break;
    blocked.delete(c); // everything went to the kernel at once: no drain will come, go on
  }
  if (buf === c.held) {
    c.held.copyWithin(0, stop, len);
    c.heldLen = len - stop;
  } else if (stop < len) hold(c, buf, stop, len);
  else c.heldLen = 0;
  if (blocked.has(c) && !c.paused) {
    c.paused = true;
    c.sock.pause();
  }
}

/** A subscriber drained: retry the paused publishers. */
function unblock(): void {
  for (const p of [...blocked]) {
    blocked.delete(p);
    const empty = new Uint8Array(0);
    feed(p, empty);
    if (!blocked.has(p) && p.paused) {
      p.paused = false;
      p.sock.resume();
    }
  }
}

Bun.listen<Conn>({
  hostname: "127.0.0.1",
  port,
  socket: {
    binaryType: "uint8array",
    open(sock) {
      sock.setNoDelay(true);
      sock.data = { sock, out: new Uint8Array(OUT_CAP), head: 0, tail: 0, held: new Uint8Array(0), heldLen: 0, paused: false, subs: new Map() };
      sock.write(info);
    },
    data(sock, d) {
      feed(sock.data, d);
      if (d.length >= 16 * 1024) {
        try {
          (d.buffer as ArrayBuffer).transfer(0);
        } catch {
          // not detachable: the collector frees it
        }
      }
    },
    drain(sock) {
      flush(sock.data);
      if (blocked.size > 0) unblock();
    },
    close(sock) {
      const c = sock.data;
      for (const sub of c.subs.values()) subs.splice(subs.indexOf(sub), 1);
      c.subs.clear();
      blocked.delete(c);
      if (blocked.size > 0) unblock();
    },
  },
});
