/**
 * The chaos checker: reads each replica's store from disk (after the servers stopped) and judges what the
 * workload recorded: every acknowledged message exactly once, at its acknowledged sequence, in publish order, on
 * every replica; replicas identical; no acknowledged message delivered again; KV history linearizable.
 */
import { openAccountStores } from "../../adapters/storage/index.ts";
import { checkKey, type HistoryOp } from "../../src/raft/kv/linearizability.ts";

export interface StoredEntry {
  seq: number;
  subject: string;
  data: string;
}

/** Every message of `stream` in server `storeDir`'s file store, ascending by sequence. */
export async function readReplica(storeDir: string, stream: string): Promise<StoredEntry[]> {
  const stores = await openAccountStores({ kind: "file", storeDir });
  try {
    const st = stores.forAccount("$G");
    if (!st.streamNames().includes(stream)) return [];
    const b = st.openStream(stream);
    const out: StoredEntry[] = [];
    const dec = new TextDecoder();
    for (const m of b.scan()) {
      const full = b.load(m.seq);
      if (full) out.push({ seq: m.seq, subject: full.subject, data: dec.decode(full.data) });
    }
    b.close();
    return out;
  } finally {
    stores.close();
  }
}

export interface PublisherRecord {
  acked: ReadonlyMap<string, number>;
  attempted: readonly string[];
  ackMismatch: readonly string[];
}

export interface StreamVerdict {
  acked: number;
  lost: number;
  duplicated: number;
  problems: string[];
}

/** Judge the replicas of the published stream against what the publishers had acknowledged. */
export function checkStream(pubs: readonly PublisherRecord[], replicas: ReadonlyMap<string, StoredEntry[]>): StreamVerdict {
  const problems: string[] = [];
  const acked = new Map<string, number>();
  const attempted = new Set<string>();
  for (const p of pubs) {
    for (const [id, seq] of p.acked) acked.set(id, seq);
    for (const id of p.attempted) attempted.add(id);
    for (const m of p.ackMismatch) problems.push(`one id acknowledged at two sequences: ${m}`);
    // Publish order: a sequential publisher's acknowledged sequences only grow.
    let prev = 0;
    for (const id of p.attempted) {
      const s = p.acked.get(id);
      if (s === undefined) continue;
      if (s <= prev) problems.push(`${id} acknowledged at ${s}, not after the previous message's ${prev}`);
      prev = s;
    }
  }
  const seqsAcked = new Map<number, string>();
  for (const [id, seq] of acked) {
    const other = seqsAcked.get(seq);
    if (other !== undefined) problems.push(`sequence ${seq} acknowledged for ${other} and ${id}`);
    seqsAcked.set(seq, id);
  }
  const lostIds = new Set<string>();
  const dupIds = new Set<string>();
  if (replicas.size === 0) problems.push("no replica to read");
  let reference: { name: string; entries: StoredEntry[] } | undefined;
  for (const [name, entries] of replicas) {
    const count = new Map<string, number>();
    let prevSeq = 0;
    for (const e of entries) {
      if (e.seq <= prevSeq) problems.push(`${name}: sequence ${e.seq} after ${prevSeq}`);
      prevSeq = e.seq;
      count.set(e.data, (count.get(e.data) ?? 0) + 1);
      if (!attempted.has(e.data)) problems.push(`${name}: seq ${e.seq} holds ${JSON.stringify(e.data)}, never published`);
      const want = acked.get(e.data);
      if (want !== undefined && want !== e.seq) problems.push(`${name}: ${e.data} at seq ${e.seq}, acknowledged at ${want}`);
    }
    for (const [id, n] of count) if (n > 1) dupIds.add(id);
    for (const id of acked.keys()) if (!count.has(id)) lostIds.add(id);
    const missing = [...acked.keys()].filter((id) => !count.has(id));
    if (missing.length > 0) problems.push(`${name}: ${missing.length} acknowledged messages missing (first ${missing.slice(0, 5).join(", ")})`);
    if (reference === undefined) reference = { name, entries };
    else {
      const diff = firstDifference(reference.entries, entries);
      if (diff !== undefined) problems.push(`replicas ${reference.name} and ${name} differ: ${diff}`);
    }
  }
  if (dupIds.size > 0) problems.push(`${dupIds.size} messages stored more than once (first ${[...dupIds].slice(0, 5).join(", ")})`);
  return { acked: acked.size, lost: lostIds.size, duplicated: dupIds.size, problems };
}

/** The first place two replicas' message lists disagree, or undefined when identical. */
export function firstDifference(a: readonly StoredEntry[], b: readonly StoredEntry[]): string | undefined {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) return `lengths ${a.length} and ${b.length}`;
    if (x.seq !== y.seq || x.subject !== y.subject || x.data !== y.data) {
      return `at index ${i}: ${x.seq} ${x.subject} ${x.data} vs ${y.seq} ${y.subject} ${y.data}`;
    }
  }
  return undefined;
}

export interface KvVerdict {
  ops: number;
  keys: number;
  linearizable: boolean;
  /** Keys whose search ran out of budget (neither proven nor refuted). */
  unknown: string[];
  failedKeys: string[];
  problems: string[];
}

export function checkKv(history: readonly HistoryOp[]): KvVerdict {
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    const l = byKey.get(h.key);
    if (l) l.push(h);
    else byKey.set(h.key, [h]);
  }
  const problems: string[] = [];
  const unknown: string[] = [];
  const failedKeys: string[] = [];
  for (const [key, ops] of byKey) {
    const r = checkKey(ops, 5_000_000);
    if (r === "unknown") unknown.push(key);
    else if (!r) {
      failedKeys.push(key);
      problems.push(`KV key ${key}: ${ops.length} operations are not linearizable`);
    }
  }
  return { ops: history.length, keys: byKey.size, linearizable: problems.length === 0, unknown, failedKeys, problems };
}

/** A short description of a non-linearizable key's history around its reads, for the report. */
export function describeHistory(ops: readonly HistoryOp[], limit = 40): string[] {
  return [...ops].sort((a, b) => a.call - b.call).slice(0, limit).map((o) => {
    const op = o.op.kind === "cas" ? `cas(${o.op.expect}->${o.op.value})` : o.op.kind === "put" ? `put(${o.op.value})` : "get";
    const out = o.output ? `${o.output.ok ? "ok" : "fail"} ${o.output.value}` : "?";
    return `${o.call.toFixed(1)}..${o.ret === Infinity ? "inf" : o.ret.toFixed(1)} ${op} => ${out}`;
  });
}
