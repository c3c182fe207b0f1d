/**
 * Clustered NATS Streaming: the entries of the STAN cluster's one Raft log. The leader serves the protocol and
 * turns every change it makes into an entry; every node (the leader too, after a restart) applies the entries in
 * log order through the same functions (`Channel.apply`, the server's client table, the stream's publish), so
 * all nodes hold the same channels, clients and subscriptions.
 *
 * A published message is applied on commit by every node, the leader included, and only then acknowledged: an
 * acknowledged message is on a majority. Subscription and client changes are applied by the leader at once (its
 * delivery loop needs them) and replayed by the others; `origin` tells the leader which entries it already
 * holds. Layout: u32 length of the JSON header, the header, then the message data (publishes only).
 */
import type { ChannelEntry } from "./channel.ts";

export type StanEntry =
  /** The new leader's first entry: once it is applied, the leader holds everything before it and serves. */
  | { op: "lead"; origin: string }
  /** A message published on `ch` at `ts` (ms); `ack` is where its PubAck goes, `reply` its Stan-Reply. */
  | { op: "pub"; origin: string; ch: string; ts: number; guid: string; ack?: string; reply?: string; data: Uint8Array }
  | { op: "conn"; origin: string; id: string; hbInbox: string; connID: string }
  | { op: "close"; origin: string; id: string }
  | { op: "ch"; origin: string; ch: string; e: ChannelEntry };

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeStanEntry(e: StanEntry): Uint8Array {
  const data = e.op === "pub" ? e.data : new Uint8Array(0);
  const head = enc.encode(JSON.stringify(e.op === "pub" ? { ...e, data: undefined } : e));
  const out = new Uint8Array(4 + head.length + data.length);
  new DataView(out.buffer).setUint32(0, head.length);
  out.set(head, 4);
  out.set(data, 4 + head.length);
  return out;
}

const OPS = new Set(["lead", "pub", "conn", "close", "ch"]);

/** An entry, or an Error for bytes that are not one (a corrupted log is a bug the caller reports loudly). */
export function decodeStanEntry(b: Uint8Array): StanEntry | Error {
  if (b.length < 4) return new Error("stan entry: too short");
  const n = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);
  if (4 + n > b.length) return new Error("stan entry: header past the end");
  let head: Record<string, unknown>;
  try {
    head = JSON.parse(dec.decode(b.subarray(4, 4 + n))) as Record<string, unknown>;
  } catch (err) {
    return new Error(`stan entry: ${(err as Error).message}`);
  }
  if (typeof head?.op !== "string" || !OPS.has(head.op) || typeof head.origin !== "string") {
    return new Error("stan entry: no known op");
  }
  if (head.op === "pub") return { ...head, data: b.slice(4 + n) } as StanEntry;
  return head as StanEntry;
}
