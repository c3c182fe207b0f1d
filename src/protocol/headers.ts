/**
 * NATS header blocks: `NATS/1.0[ code[ description]]\r\nKey: Value\r\n...\r\n\r\n`.
 * Keys keep the case they were sent with (clients compare them case-sensitively), lookups here are
 * case-insensitive because nats-server's own header reads are.
 */

export interface HeaderBlock {
  /** Status code from the first line, 0 when absent. */
  code: number;
  description: string;
  /** In wire order; a key may repeat. */
  entries: Array<[string, string]>;
}

const PREFIX = "NATS/1.0";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Encodes a header block. Returns the bytes including the terminating blank line. */
export function encodeHeaders(
  entries: Iterable<[string, string]>,
  code = 0,
  description = "",
): Uint8Array {
  let s = PREFIX;
  if (code > 0) {
    s += " " + code;
    if (description) s += " " + description;
  }
  s += "\r\n";
  for (const [k, v] of entries) s += k + ": " + v + "\r\n";
  s += "\r\n";
  return enc.encode(s);
}

/** A status-only header block such as `NATS/1.0 404 No Messages\r\n\r\n`, with optional extra headers. */
export function statusHeaders(code: number, description: string, extra: Array<[string, string]> = []): Uint8Array {
  return encodeHeaders(extra, code, description);
}

/** Parses a header block; returns an error string (never throws) on malformed input. */
export function parseHeaders(bytes: Uint8Array): HeaderBlock | string {
  const text = dec.decode(bytes);
  if (!text.startsWith(PREFIX)) return "header block does not start with NATS/1.0";
  const lines = text.split("\r\n");
  const first = lines[0].slice(PREFIX.length).trim();
  let code = 0;
  let description = "";
  if (first.length > 0) {
    const m = /^(\d{3})(?:\s+(.*))?$/.exec(first);
    if (!m) return "invalid status line";
    code = Number(m[1]);
    description = m[2] ?? "";
  }
  const entries: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) return "invalid header line";
    entries.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return { code, description, entries };
}

/** First value of `name` (case-insensitive), or undefined. */
export function headerValue(block: HeaderBlock, name: string): string | undefined {
  const lname = name.toLowerCase();
  for (const [k, v] of block.entries) if (k.toLowerCase() === lname) return v;
  return undefined;
}

/**
 * Fast lookup straight on the bytes without decoding the whole block: the write path asks for a handful of
 * `Nats-*` headers on every stored message.
 */
export function findHeader(bytes: Uint8Array, name: string): string | undefined {
  const n = name.length;
  // Each header line starts right after "\r\n".
  for (let i = 0; i + n + 2 < bytes.length; i++) {
    if (bytes[i] !== 13 || bytes[i + 1] !== 10) continue;
    const start = i + 2;
    let ok = true;
    for (let j = 0; j < n; j++) {
      let c = bytes[start + j];
      if (c >= 65 && c <= 90) c += 32;
      let d = name.charCodeAt(j);
      if (d >= 65 && d <= 90) d += 32;
      if (c !== d) {
        ok = false;
        break;
      }
    }
    if (!ok || bytes[start + n] !== 58 /* : */) continue;
    let vs = start + n + 1;
    while (bytes[vs] === 32 || bytes[vs] === 9) vs++;
    let ve = vs;
    while (ve < bytes.length && bytes[ve] !== 13) ve++;
    let e = ve;
    while (e > vs && (bytes[e - 1] === 32 || bytes[e - 1] === 9)) e--;
    return dec.decode(bytes.subarray(vs, e));
  }
  return undefined;
}

/** Status code of a header block straight from the bytes (0 when none). */
export function headerStatus(bytes: Uint8Array): number {
  // "NATS/1.0 503" -> digits at 9..11
  if (bytes.length < 12 || bytes[8] !== 32) return 0;
  let code = 0;
  for (let i = 9; i < 12; i++) {
    const c = bytes[i];
    if (c < 48 || c > 57) return 0;
    code = code * 10 + (c - 48);
  }
  return code;
}

/** Returns a copy of the block with `name` headers dropped (case-insensitive); undefined if nothing remains. */
export function withoutHeaders(bytes: Uint8Array, names: string[]): Uint8Array | undefined {
  const parsed = parseHeaders(bytes);
  if (typeof parsed === "string") return bytes;
  const drop = new Set(names.map((n) => n.toLowerCase()));
  const kept = parsed.entries.filter(([k]) => !drop.has(k.toLowerCase()));
  if (kept.length === parsed.entries.length) return bytes;
  if (kept.length === 0 && parsed.code === 0) return undefined;
  return encodeHeaders(kept, parsed.code, parsed.description);
}

/** Appends headers to an existing block (or starts a new one). */
export function appendHeaders(bytes: Uint8Array | undefined, extra: Array<[string, string]>): Uint8Array {
  if (!bytes || bytes.length === 0) return encodeHeaders(extra);
  const parsed = parseHeaders(bytes);
  if (typeof parsed === "string") return encodeHeaders(extra);
  return encodeHeaders([...parsed.entries, ...extra], parsed.code, parsed.description);
}

/**
 * Appends header lines to a block without reparsing it (the write and delivery paths add `Nats-*` headers to
 * stored blocks). Starts a new block when there is none.
 */
export function appendHeaderLines(block: Uint8Array | undefined, extra: Array<[string, string]>): Uint8Array {
  if (!block || block.length < 12) return encodeHeaders(extra);
  let add = "";
  for (const [k, v] of extra) add += k + ": " + v + "\r\n";
  const tail = enc.encode(add + "\r\n");
  const out = new Uint8Array(block.length - 2 + tail.length);
  out.set(block.subarray(0, block.length - 2));
  out.set(tail, block.length - 2);
  return out;
}
