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
const port = Number(Deno.args[0]);
if (!Number.isInteger(port) || port <= 0) throw new Error(`usage: floor_fanout_deno.ts PORT (got ${Deno.args[0]})`);
const OUT_CAP = Number(Deno.env.get("FLOOR_OUT_KB") ?? 128) * 1024; // each of a subscriber's two output buffers
const READ = 64 * 1024;
const enc = new TextEncoder();
const info = enc.encode(`INFO {"server_id":"fanfloor","version":"2.9.10","proto":1,"max_payload":1048576,"headers":true}\r\n`);
const PONG = enc.encode("PONG\r\n");
const CR = 13, LF = 10, SP = 32;

interface Sub {
  conn: Conn;
  subject: Uint8Array;
  sidText: Uint8Array; // " <sid>"
  sid: string;
}

interface Conn {
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

function same(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  if (to - from !== a.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[from + i]) return false;
  return true;
}

function tokens(d: Uint8Array, from: number, to: number): [number, number][] {
  const out: [number, number][] = [];
  let i = from;
  while (i < to) {
    while (i < to && d[i] === SP) i++;
    const s = i;
    while (i < to && d[i] !== SP) i++;
    if (i > s) out.push([s, i]);
  }
  return out;
}

const dec = new TextDecoder();

/** Parse d[from, to); returns where it stopped (a partial frame, or a frame that does not fit a subscriber). */
function parse(c: Conn, d: Uint8Array, from: number, to: number): number {
  let p = from;
  while (p < to) {
    let nl = p;
    while (nl < to && d[nl] !== LF) nl++;
    if (nl === to) return p;
    const end = nl > p && d[nl - 1] === CR ? nl - 1 : nl;
    const op = d[p] | 0x20, op2 = d[p + 1] | 0x20;
    if (op === 0x70 && op2 === 0x75) { // PUB <subject> [reply] <size>
      let s = p + 4;
      while (d[s] === SP) s++;
      let e = s;
      while (e < end && d[e] !== SP) e++;
      let size = 0;
      let k = end - 1;
      while (k > e && d[k] !== SP) k--;
      for (let i = k + 1; i < end; i++) size = size * 10 + d[i] - 48;
      const frameEnd = nl + 1 + size + 2;
      if (frameEnd > to) return p;
      // MSG <subject> <sid><the PUB line from after the subject, CRLF included><payload CRLF>
      const tailLen = frameEnd - e;
      let fits = true;
      for (const sub of subs) {
        if (same(sub.subject, d, s, e) && !room(sub.conn, 4 + (e - s) + sub.sidText.length + tailLen)) {
          fits = false;
          c.blockedOn = sub.conn;
          break;
        }
      }
      if (!fits) return p;
      for (const sub of subs) {
        if (!same(sub.subject, d, s, e)) continue;
        const o = sub.conn;
        const out = o.out;
        let t = o.tail;
        out[t++] = 0x4d; // "MSG "
        out[t++] = 0x53;
        out[t++] = 0x47;
        out[t++] = SP;
        for (let i = s; i < e; i++) out[t++] = d[i]; // byte loops: a subarray per copy is garbage per message
        const sidText = sub.sidText;
        for (let i = 0; i < sidText.length; i++) out[t++] = sidText[i];
        for (let i = e; i < frameEnd; i++) out[t++] = d[i];
        o.tail = t;
      }
      p = frameEnd;
      continue;
    }
    if (op === 0x70 && op2 === 0x69) { // PING
      if (room(c, PONG.length)) {
        c.out.set(PONG, c.tail);
        c.tail += PONG.length;
      }
    } else if (op === 0x73) { // SUB <subject> [queue] <sid>
      const t = tokens(d, p + 4, end);
      const sid = dec.decode(d.subarray(t[t.length - 1][0], t[t.length - 1][1]));
      const sub: Sub = { conn: c, subject: d.slice(t[0][0], t[0][1]), sidText: enc.encode(" " + sid), sid };
      c.subs.set(sid, sub);
      subs.push(sub);
    } else if (op === 0x75) { // UNSUB <sid>
      const t = tokens(d, p + 6, end);
      const sid = dec.decode(d.subarray(t[0][0], t[0][1]));
      const sub = c.subs.get(sid);
      if (sub !== undefined) {
        c.subs.delete(sid);
        subs.splice(subs.indexOf(sub), 1);
      }
    } // CONNECT, PONG: nothing
    p = nl + 1;
  }
  return p;
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
