/**
 * Deterministic simulation of one Raft group running the replicated KV store. One seeded PRNG decides
 * everything (message delay, loss, duplication, partitions, crashes between a write and its fsync,
 * membership changes, leadership transfers, client operations), and a virtual clock orders the events, so a
 * seed replays exactly. Safety invariants are checked after every event; durability of acknowledged
 * proposals and linearizability of the client history are checked after a fault-free settling period.
 */
import { BUG_NAMES, type BugName, RaftNode, type Ready } from "../../src/raft/node.ts";
import { MemoryStorage } from "../../src/raft/memory_storage.ts";
import { persistReady } from "../../src/raft/persist.ts";
import { randInt, seededRandom } from "../../src/raft/prng.ts";
import type { Entry, Membership, Message, PeerId, Random } from "../../src/raft/types.ts";
import { encodeKvCommand, type KvCommand, type KvResult, KvStateMachine } from "../../src/raft/kv/state_machine.ts";
import { checkLinearizable, type HistoryOp, type KvOp } from "../../src/raft/kv/linearizability.ts";
import { EventQueue } from "./queue.ts";

/**
 * Protocol bugs live in the core. Two more live in the client layer: "staleRead" serves reads from the
 * contacted node's state without going through the log; "ackOnAppend" answers a client as soon as the
 * leader appended its command, before it is committed.
 */
export type SimBug = BugName | "staleRead" | "ackOnAppend";
export const SIM_BUGS: readonly SimBug[] = [...BUG_NAMES, "staleRead", "ackOnAppend"];

export interface SimOptions {
  readonly seed: number;
  readonly bug?: SimBug;
  /** Virtual milliseconds of faults and client load before the settling period. */
  readonly duration?: number;
}

export interface SimStats {
  events: number;
  elections: number;
  applied: number;
  acked: number;
  ops: number;
  crashes: number;
  snapshotsInstalled: number;
  membershipChanges: number;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation?: string;
  readonly stats: SimStats;
}

const TICK = 10;
const SETTLE = 2500;
const dec = new TextDecoder();

interface SimNode {
  readonly id: PeerId;
  node: RaftNode | null;
  readonly storage: MemoryStorage;
  kv: KvStateMachine;
  lastApplied: number;
  /** Client proposals this node accepted as leader, by log index. */
  pending: Map<number, { term: number; client: number; seq: number }>;
  leaderTerm: number;
}

interface Client {
  readonly n: number;
  seq: number;
  hint: PeerId | null;
  /** Current operation, or null while idle. */
  cur: { seq: number; cmd: KvCommand; op: KvOp; call: number; proposed: boolean } | null;
  lastSeen: Map<string, string | null>;
}

type Ev =
  | { readonly t: "tick"; readonly id: PeerId; readonly inc: number }
  | { readonly t: "msg"; readonly from: PeerId; readonly to: PeerId; readonly msg: Message }
  | { readonly t: "restart"; readonly id: PeerId }
  | { readonly t: "heal" }
  | { readonly t: "chaos" }
  | { readonly t: "client"; readonly c: number; readonly seq: number }
  | { readonly t: "arrive"; readonly c: number; readonly seq: number; readonly to: PeerId }
  | { readonly t: "resp"; readonly c: number; readonly seq: number; readonly res: KvResult | null; readonly index: number; readonly term: number }
  | { readonly t: "timeout"; readonly c: number; readonly seq: number };

class Violation extends Error {}

function entryHash(e: Entry): string {
  return `${e.term}:${e.kind}:${e.kind === "conf" ? JSON.stringify(e.conf) : dec.decode(e.data)}`;
}

export function runSim(opts: SimOptions): SimResult {
  const rand: Random = seededRandom(opts.seed);
  const bug = opts.bug;
  const coreBugs = new Set<BugName>(BUG_NAMES.filter((b) => b === bug));
  const duration = opts.duration ?? 10_000;
  const stats: SimStats = {
    events: 0,
    elections: 0,
    applied: 0,
    acked: 0,
    ops: 0,
    crashes: 0,
    snapshotsInstalled: 0,
    membershipChanges: 0,
  };

  // Per-seed fault profile.
  const nNodes = rand() < 0.5 ? 3 : 5;
  const dropP = rand() * 0.1;
  const dupP = rand() * 0.05;
  const maxDelay = randInt(rand, 2, 25);
  const midWriteCrashP = rand() * 0.004;
  const compactEvery = randInt(rand, 10, 80);
  const maxBatch = randInt(rand, 1, 8);
  const ids = Array.from({ length: nNodes }, (_, i) => `n${i + 1}`);
  const joiner = rand() < 0.5 ? ids[nNodes - 1] : null;
  const initialVoters = ids.filter((p) => p !== joiner);
  const initial: Membership = { voters: initialVoters, observers: [] };

  const q = new EventQueue<Ev>();
  let now = 0;
  const at = (delay: number, ev: Ev) => q.push(now + delay, ev);

  const nodes = new Map<PeerId, SimNode>();
  const incarnation = new Map<PeerId, number>();
  const side = new Map<PeerId, number>();
  let faults = true;

  // Global knowledge for the invariants.
  const leaders = new Map<number, PeerId>();
  const logMatch = new Map<string, string>();
  const committed = new Map<number, string>();
  const committedTerm = new Map<number, number>();
  const acked: { index: number; term: number }[] = [];
  const history: HistoryOp[] = [];

  const fail = (what: string): never => {
    throw new Violation(`${what} (t=${now}ms)`);
  };

  const boot = (id: PeerId, storage: MemoryStorage): SimNode => {
    const stored = storage.load();
    const node = new RaftNode({
      id,
      initial: id === joiner ? { voters: [], observers: [] } : initial,
      random: seededRandom(Math.floor(rand() * 2 ** 32)),
      electionTicks: 10,
      heartbeatTicks: 2,
      maxBatch,
      maxInflight: 4,
      bugs: coreBugs,
    }, stored);
    const kv = new KvStateMachine();
    if (stored.snapshot) kv.restore(stored.snapshot.data, stored.snapshot.meta.index);
    const inc = (incarnation.get(id) ?? 0) + 1;
    incarnation.set(id, inc);
    at(randInt(rand, 1, TICK + 1), { t: "tick", id, inc });
    return { id, node, storage, kv, lastApplied: kv.applied, pending: new Map(), leaderTerm: 0 };
  };

  for (const id of ids) {
    side.set(id, 0);
    nodes.set(id, boot(id, new MemoryStorage()));
  }

  const send = (from: PeerId, to: PeerId, msg: Message) => {
    if (faults && rand() < dropP) return;
    const copies = faults && rand() < dupP ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const slow = faults && rand() < 0.02 ? 100 : 0;
      at(randInt(rand, 1, maxDelay + 1) + slow, { t: "msg", from, to, msg });
    }
  };

  const crash = (sn: SimNode) => {
    sn.storage.crash();
    sn.node = null;
    sn.pending.clear();
    stats.crashes++;
    at(randInt(rand, 50, 800), { t: "restart", id: sn.id });
  };

  const checkAppended = (sn: SimNode, node: RaftNode, rd: Ready) => {
    let prevTerm = rd.entries.length > 0 ? node.log.termAt(rd.entries[0].index - 1) : 0;
    for (const e of rd.entries) {
      const key = `${e.index}:${e.term}`;
      const val = `${prevTerm}|${entryHash(e)}`;
      const seen = logMatch.get(key);
      if (seen === undefined) logMatch.set(key, val);
      else if (seen !== val) fail(`log matching: ${sn.id} has entry ${key} as ${val}, another log as ${seen}`);
      prevTerm = e.term;
    }
  };

  const applyEntry = (sn: SimNode, e: Entry) => {
    if (e.index !== sn.lastApplied + 1) fail(`${sn.id} applied ${e.index} after ${sn.lastApplied}`);
    sn.lastApplied = e.index;
    const h = entryHash(e);
    const seen = committed.get(e.index);
    if (seen === undefined) {
      committed.set(e.index, h);
      committedTerm.set(e.index, e.term);
    } else if (seen !== h) {
      fail(`state machine safety: ${sn.id} applied ${e.index} as ${h}, another node as ${seen}`);
    }
    stats.applied++;
    const res = sn.kv.apply(e);
    const p = sn.pending.get(e.index);
    if (p) {
      sn.pending.delete(e.index);
      at(randInt(rand, 1, 6), {
        t: "resp",
        c: p.client,
        seq: p.seq,
        res: p.term === e.term ? res : null,
        index: e.index,
        term: p.term,
      });
    }
  };

  const checkLeader = (sn: SimNode, node: RaftNode) => {
    if (node.role !== "leader") return;
    const prev = leaders.get(node.term);
    if (prev !== undefined && prev !== sn.id) {
      fail(`election safety: ${prev} and ${sn.id} both leaders of term ${node.term}`);
    }
    if (sn.leaderTerm === node.term) return;
    sn.leaderTerm = node.term;
    leaders.set(node.term, sn.id);
    stats.elections++;
    for (const [i, t] of committedTerm) {
      if (i <= node.log.snapIndex) continue;
      if (node.log.termAt(i) !== t) {
        fail(`leader completeness: ${sn.id} leads term ${node.term} without committed entry ${i}@${t}`);
      }
    }
  };

  const drain = (sn: SimNode) => {
    for (let guard = 0; guard < 100; guard++) {
      const node = sn.node;
      if (!node) return;
      checkLeader(sn, node);
      if (!node.hasReady()) return;
      const rd = node.ready();
      const tear = faults && (rd.entries.length > 0 || rd.hardState !== null) && rand() < midWriteCrashP;
      persistReady(sn.storage, rd, !tear);
      if (tear) return crash(sn);
      checkAppended(sn, node, rd);
      for (const m of rd.messages) send(sn.id, m.to, m.msg);
      if (rd.snapshot && rd.installed) {
        sn.kv.restore(rd.snapshot.data, rd.snapshot.meta.index);
        sn.lastApplied = rd.snapshot.meta.index;
        stats.snapshotsInstalled++;
      }
      for (const e of rd.committed) applyEntry(sn, e);
      if (sn.kv.applied - node.log.snapIndex >= compactEvery) node.compact(sn.kv.applied, sn.kv.snapshot());
    }
  };

  // ---- clients ----
  const KEYS = ["a", "b", "c"];
  const clients: Client[] = [0, 1, 2].map((n) => ({ n, seq: 0, hint: null, cur: null, lastSeen: new Map() }));
  const startOp = (c: Client) => {
    if (!faults) return;
    const seq = ++c.seq;
    const key = KEYS[randInt(rand, 0, KEYS.length)];
    const id = `c${c.n}.${seq}`;
    const r = rand();
    let cmd: KvCommand, op: KvOp;
    if (r < 0.4) {
      cmd = { id, op: "put", key, value: id };
      op = { kind: "put", value: id };
    } else if (r < 0.8) {
      cmd = { id, op: "get", key };
      op = { kind: "get" };
    } else {
      const expect = c.lastSeen.get(key) ?? null;
      cmd = { id, op: "cas", key, expect, value: id };
      op = { kind: "cas", expect, value: id };
    }
    c.cur = { seq, cmd, op, call: now, proposed: false };
    stats.ops++;
    route(c);
    at(600, { t: "timeout", c: c.n, seq });
  };
  const route = (c: Client) => {
    if (!c.cur) return;
    const to = c.hint ?? ids[randInt(rand, 0, ids.length)];
    at(randInt(rand, 1, 6), { t: "arrive", c: c.n, seq: c.cur.seq, to });
  };
  const finish = (c: Client, output: { value: string | null; ok: boolean } | null, keep: boolean) => {
    const cur = c.cur;
    if (!cur) return;
    if (keep) {
      history.push({ key: cur.cmd.key, op: cur.op, call: cur.call, ret: output ? now : Infinity, output });
    }
    if (output) c.lastSeen.set(cur.cmd.key, output.value);
    c.cur = null;
    at(randInt(rand, 0, 40), { t: "client", c: c.n, seq: c.seq });
  };

  const arrive = (c: Client, to: PeerId) => {
    const cur = c.cur;
    if (!cur || cur.proposed) return;
    const sn = nodes.get(to);
    const node = sn?.node;
    if (!sn || !node) {
      c.hint = null;
      at(20, { t: "arrive", c: c.n, seq: cur.seq, to: ids[randInt(rand, 0, ids.length)] });
      return;
    }
    if (bug === "staleRead" && cur.cmd.op === "get") {
      const value = sn.kv.get(cur.cmd.key);
      at(randInt(rand, 1, 6), {
        t: "resp",
        c: c.n,
        seq: cur.seq,
        res: { id: cur.cmd.id, value, ok: true },
        index: 0,
        term: 0,
      });
      cur.proposed = true;
      return;
    }
    const res = node.propose(encodeKvCommand(cur.cmd));
    if (!res.ok) {
      c.hint = res.leader !== sn.id ? res.leader : null;
      at(randInt(rand, 10, 30), { t: "arrive", c: c.n, seq: cur.seq, to: c.hint ?? ids[randInt(rand, 0, ids.length)] });
      return;
    }
    cur.proposed = true;
    c.hint = sn.id;
    if (bug === "ackOnAppend") {
      at(randInt(rand, 1, 6), {
        t: "resp",
        c: c.n,
        seq: cur.seq,
        res: { id: cur.cmd.id, value: null, ok: true },
        index: res.index,
        term: res.term,
      });
      drain(sn);
      return;
    }
    sn.pending.set(res.index, { term: res.term, client: c.n, seq: cur.seq });
    drain(sn);
  };

  // ---- chaos ----
  const chaos = () => {
    if (!faults) return;
    at(100, { t: "chaos" });
    const r = rand();
    const pick = () => nodes.get(ids[randInt(rand, 0, ids.length)]) as SimNode;
    const leader = [...nodes.values()].find((s) => s.node?.role === "leader");
    if (r < 0.06) {
      const sn = pick();
      if (sn.node) crash(sn);
    } else if (r < 0.1 && leader?.node) {
      crash(leader);
    } else if (r < 0.14) {
      for (const id of ids) side.set(id, rand() < 0.5 ? 1 : 0);
      at(randInt(rand, 100, 1500), { t: "heal" });
    } else if (r < 0.2 && leader?.node) {
      // Isolate the leader: the rest must elect a new one, the old one must step down.
      side.set(leader.id, 2 + randInt(rand, 0, 1000));
      at(randInt(rand, 100, 1000), { t: "heal" });
    } else if (r < 0.23 && leader?.node) {
      const m = leader.node.membership();
      const target = ids[randInt(rand, 0, ids.length)];
      let res;
      if (m.voters.includes(target)) {
        if (m.voters.length > 3) res = leader.node.proposeMembership({ op: "remove", peer: target });
      } else if (m.observers.includes(target)) {
        res = leader.node.proposeMembership({ op: "addVoter", peer: target });
      } else {
        res = leader.node.proposeMembership({ op: rand() < 0.5 ? "addObserver" : "addVoter", peer: target });
      }
      if (res?.ok) stats.membershipChanges++;
      if (res) drain(leader);
    } else if (r < 0.26 && leader?.node) {
      const voters = leader.node.membership().voters.filter((p) => p !== leader.id);
      if (voters.length > 0) leader.node.transferLeadership(voters[randInt(rand, 0, voters.length)]);
      drain(leader);
    } else if (r < 0.28 && leader?.node) {
      leader.node.stepDown();
      drain(leader);
    }
  };

  const heal = () => {
    for (const id of ids) side.set(id, 0);
  };

  // ---- main loop ----
  at(100, { t: "chaos" });
  for (const c of clients) at(randInt(rand, 50, 150), { t: "client", c: c.n, seq: 0 });
  const end = duration + SETTLE;
  let settled = false;
  try {
    for (;;) {
      const next = q.pop();
      if (!next) break;
      now = next.time;
      if (now > end) break;
      if (!settled && now >= duration) {
        settled = true;
        faults = false;
        heal();
        for (const sn of nodes.values()) if (!sn.node) at(1, { t: "restart", id: sn.id });
      }
      if (++stats.events > 400_000) fail("event budget exhausted");
      const ev = next.value;
      switch (ev.t) {
        case "tick": {
          const sn = nodes.get(ev.id) as SimNode;
          if (!sn.node || incarnation.get(ev.id) !== ev.inc) break;
          sn.node.tick();
          drain(sn);
          at(TICK, ev);
          break;
        }
        case "msg": {
          const sn = nodes.get(ev.to) as SimNode;
          if (!sn.node || side.get(ev.from) !== side.get(ev.to)) break;
          sn.node.step(ev.from, ev.msg);
          drain(sn);
          break;
        }
        case "restart": {
          const sn = nodes.get(ev.id) as SimNode;
          if (sn.node) break;
          const fresh = boot(ev.id, sn.storage);
          sn.node = fresh.node;
          sn.kv = fresh.kv;
          sn.lastApplied = fresh.lastApplied;
          sn.leaderTerm = 0;
          break;
        }
        case "heal":
          heal();
          break;
        case "chaos":
          chaos();
          break;
        case "client": {
          const c = clients[ev.c];
          if (!c.cur) startOp(c);
          break;
        }
        case "arrive": {
          const c = clients[ev.c];
          if (c.cur?.seq === ev.seq) arrive(c, ev.to);
          break;
        }
        case "resp": {
          const c = clients[ev.c];
          if (c.cur?.seq !== ev.seq) break;
          if (ev.res === null) {
            // Another entry took our slot: the operation definitely did not happen.
            finish(c, null, false);
          } else {
            if (ev.index > 0) {
              acked.push({ index: ev.index, term: ev.term });
              stats.acked++;
            }
            finish(c, { value: ev.res.value, ok: ev.res.ok }, true);
          }
          break;
        }
        case "timeout": {
          const c = clients[ev.c];
          if (c.cur?.seq === ev.seq) finish(c, null, c.cur.proposed);
          break;
        }
      }
    }
    // Every acknowledged proposal is applied by a majority of the final voters.
    const live = [...nodes.values()].find((s) => s.node?.role === "leader") ?? [...nodes.values()][0];
    const voters = live.node?.membership().voters ?? initialVoters;
    for (const a of acked) {
      if (committedTerm.get(a.index) !== a.term) fail(`acknowledged entry ${a.index}@${a.term} was not applied`);
      const have = voters.filter((v) => (nodes.get(v)?.lastApplied ?? 0) >= a.index).length;
      if (have < Math.floor(voters.length / 2) + 1) {
        fail(`acknowledged entry ${a.index}@${a.term} applied by ${have} of ${voters.length} voters`);
      }
    }
    for (const c of clients) {
      const cur = c.cur;
      if (cur?.proposed) history.push({ key: cur.cmd.key, op: cur.op, call: cur.call, ret: Infinity, output: null });
    }
    const lin = checkLinearizable(history);
    if (!lin.ok) fail(`linearizability: history of key "${lin.key}" (${lin.ops.length} ops) is not linearizable`);
  } catch (e) {
    if (e instanceof Violation) return { seed: opts.seed, ok: false, violation: e.message, stats };
    return { seed: opts.seed, ok: false, violation: `crash: ${e instanceof Error ? e.stack : String(e)}`, stats };
  }
  return { seed: opts.seed, ok: true, stats };
}
