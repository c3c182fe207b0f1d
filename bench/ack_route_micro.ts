/**
 * What hearing an ack costs on one server, by how acks are subscribed (src/jetstream/ack_route.ts): one
 * `$JS.ACK.>` for every consumer (the ack subject is split to find the consumer in two maps) against one
 * `$JS.ACK.<stream>.<consumer>.>` per consumer (the subscription names the consumer; the stream sequence is read
 * after its known prefix). Each ack subject is unique, so every lookup walks the sublist (the match cache only
 * takes subjects seen twice). Also the cost of a consumer's subscribe + unsubscribe (ephemeral consumers: KV
 * watchers, ordered consumers). In-process, one runtime:
 *
 *   node_modules/.bin/bun bench/ack_route_micro.ts [--consumers K] [--acks N]
 *   node_modules/.bin/deno run -A bench/ack_route_micro.ts [--consumers K] [--acks N]
 */
import { Sublist } from "../src/subjects/sublist.ts";
import { ackSeqAfter } from "../src/jetstream/ack_route.ts";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const enc = new TextEncoder();
const dec = new TextDecoder();
const K = arg("--consumers", 100);
const N = arg("--acks", 1_000_000);

interface Sub {
  subject: string;
  consumer?: { stream: string; name: string; acked: number };
  prefixLen?: number;
}

const consumers = Array.from({ length: K }, (_, k) => ({ stream: "ORDERS", name: `C${k}`, acked: 0 }));
const byStream = new Map([["ORDERS", new Map(consumers.map((c) => [c.name, c]))]]);
// Other subscriptions a server holds (the API, inboxes), so the trie is not empty apart from the acks.
const background = ["$JS.API.>", "$JS.FC.>", "_INBOX.abc.*", "orders.>", "$SYS.REQ.SERVER.PING"];

function subjects(): string[] {
  const out: string[] = [];
  for (let i = 0; i < N; i++) {
    const c = consumers[i % K];
    // Decoded from bytes, as the server gets a subject (a flat string, not a concatenation's rope).
    out.push(dec.decode(enc.encode(`$JS.ACK.${c.stream}.${c.name}.1.${i + 1}.${i + 1}.1733500000000000000.${N - i}`)));
  }
  return out;
}

function wildcard(acks: string[]): number {
  const sl = new Sublist<Sub>();
  for (const s of background) sl.insert({ subject: s });
  sl.insert({ subject: "$JS.ACK.>" });
  const t0 = performance.now();
  for (const a of acks) {
    const r = sl.match(a);
    if (r.psubs.length === 0) throw new Error("no match");
    const t = a.split(".");
    if (t.length !== 9) continue;
    const c = byStream.get(t[2])?.get(t[3]);
    const seq = Number(t[5]);
    if (c && Number.isFinite(seq)) c.acked++;
  }
  return performance.now() - t0;
}

function perConsumer(acks: string[]): number {
  const sl = new Sublist<Sub>();
  for (const s of background) sl.insert({ subject: s });
  for (const c of consumers) {
    sl.insert({ subject: `$JS.ACK.${c.stream}.${c.name}.>`, consumer: c, prefixLen: `$JS.ACK.${c.stream}.${c.name}.`.length });
  }
  const t0 = performance.now();
  for (const a of acks) {
    const r = sl.match(a);
    const sub = r.psubs[0];
    if (!sub) throw new Error("no match");
    const seq = ackSeqAfter(a, sub.prefixLen!);
    if (!Number.isNaN(seq)) sub.consumer!.acked++;
  }
  return performance.now() - t0;
}

function churn(n: number): number {
  const sl = new Sublist<Sub>();
  for (const s of background) sl.insert({ subject: s });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const sub = { subject: `$JS.ACK.KV_cfg.W${i}.>` };
    sl.insert(sub);
    sl.remove(sub);
  }
  return performance.now() - t0;
}

const acks = subjects();
const rt = typeof Deno !== "undefined" ? "Deno" : "Bun";
for (let round = 1; round <= 3; round++) {
  const w = wildcard(acks);
  const p = perConsumer(acks);
  const ch = churn(100_000);
  console.log(
    `${rt} round ${round}, ${K} consumers, ${N} acks: one $JS.ACK.> ${(w * 1e6 / N).toFixed(0)} ns/ack; per consumer ${(p * 1e6 / N).toFixed(0)} ns/ack; ` +
      `subscribe+unsubscribe ${(ch * 1e6 / 100_000).toFixed(0)} ns`,
  );
}
