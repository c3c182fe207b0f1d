// The parser the fan-out floors share (bench/floor_fanout_bun.ts, bench/floor_fanout_deno.ts): SUB/UNSUB by exact
// subject, PONG for PING, and each PUB copied as a MSG frame into every matching subscriber's output buffer, bytes
// copied by hand (no view, no string, no garbage per message). The runtimes' halves only read and write.
const enc = new TextEncoder();
const PONG = enc.encode("PONG\r\n");
const CR = 13, LF = 10, SP = 32;

export interface FloorSub<C> {
  conn: C;
  subject: Uint8Array;
  sidText: Uint8Array; // " <sid>"
  sid: string;
}

/** A connection as the parser sees it: its output buffer filled up to `tail`, its subscriptions. */
export interface FloorConn<C> {
  out: Uint8Array;
  tail: number;
  subs: Map<string, FloorSub<C>>;
}

/**
 * Parses d[from, to) for connection c; returns where it stopped: a partial frame, or a PUB whose MSG does not fit
 * a subscriber (`room` said no; `block` was told which). `room(c, n)`: may n more bytes go to c.out at c.tail?
 */
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
export function parse<C extends FloorConn<C>>(c: C, d: Uint8Array, from: number, to: number, subs: FloorSub<C>[], room: (c: C, n: number) => boolean, block: (c: C, on: C) => void): number {
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
          block(c, sub.conn);
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
      const sub: FloorSub<C> = { conn: c, subject: d.slice(t[0][0], t[0][1]), sidText: enc.encode(" " + sid), sid };
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

