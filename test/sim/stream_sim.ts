/**
 * Deterministic simulation of a replicated stream: three replicas (the real StreamReplica, Stream and RaftHost)
 * on the Raft library's in-memory network, driven from a seed. Messages are lost, links cut, replicas crash and
 * restart (some with their stream store, some with nothing but the Raft log and a snapshot), a client retries
 * unacknowledged publishes with the same Nats-Msg-Id, purges take part of the stream. The checker: every replica
 * holds the same messages in the same order, and every acknowledged publish is there exactly once, at the
 * sequence its PubAck named. Used by test/jsraft/stream_sim.test.ts and `npm run sim`.
 */
import { RaftHost } from "../../src/raft/host.ts";
import { MemoryRaftNetwork } from "../../src/raft/memory_network.ts";
import { MemoryStorage as RaftMemoryStorage } from "../../src/raft/memory_storage.ts";
import { randInt, seededRandom } from "../../src/raft/prng.ts";
import type { Entry, Random } from "../../src/raft/types.ts";
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { JetStream } from "../../src/jetstream/engine.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { StreamReplica } from "../../src/jetstream/cluster/stream_replica.ts";
import type { BusMsg, JsBus } from "../../src/jetstream/types.ts";
import { encodeHeaders, findHeader } from "../../src/protocol/headers.ts";
import assert from "node:assert/strict";
import { commonFault, NAMES } from "./faults.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Node {
  name: string;
  alive: boolean;
  incarnation: number;
  raftStore: RaftMemoryStorage;
  jsStore: MemoryStorage;
  host?: RaftHost;
  replica?: StreamReplica;
}

export interface SimOptions {
  seed: number;
  steps: number;
  /** Entries between log compactions (default 40: replicas catch up from snapshots often). */
  compactEvery?: number;
  /** Planted bug: this replica skips applying the message with this sequence. */
  skipApply?: { node: string; seq: number };
  /** Planted bug: this replica stores every message under another subject (a silent divergence). */
  wrongSubject?: string;
  /** The leader's intake bound (StreamReplica's INTAKE_MAX_BYTES); the publisher's holds are counted. */
  intakeMaxBytes?: number;
}

export interface SimResult {
  syncs: number;
  acked: number;
  faults: number;
  stores: Map<string, Array<[number, string, string]>>;
  /** Replicas that still count proposals of their own as waiting once everything settled (must be none). */
  waiting: string[];
}

export class StreamSim {
  readonly rand: Random;
  readonly queue: Array<() => void> = [];
  readonly net: MemoryRaftNetwork;
  readonly nodes = new Map<string, Node>();
  readonly acked = new Map<string, number>();
  readonly sentAt = new Map<string, number>();
  readonly keep = new Set<string>();
  time = 1_700_000_000_000;
  step = 0;
  faults = 0;
  syncs = 0;
  /** Times a leader asked to hold the publisher, and times a held publisher was told to go on. */
  holds = 0;
  wakes = 0;
  #nextId = 1;

  constructor(readonly o: SimOptions) {
    this.rand = seededRandom(o.seed);
    this.net = new MemoryRaftNetwork({ schedule: (fn) => this.queue.push(fn) });
    for (const name of NAMES) {
      this.nodes.set(name, { name, alive: false, incarnation: 0, raftStore: new RaftMemoryStorage(), jsStore: new MemoryStorage() });
      this.start(name);
    }
  }

  start(name: string): void {
    const n = this.nodes.get(name)!;
    n.alive = true;
    const inc = ++n.incarnation;
    const schedule = (fn: () => void) => this.queue.push(() => n.alive && n.incarnation === inc && fn());
    const bus: JsBus = {
      subscribe: () => 0,
      unsubscribe: () => {},
      publish: (subject, payload) => this.onReply(subject, payload),
      holdPublisher: (c) => {
        this.holds++;
        c.whenDrained?.(() => this.wakes++);
      },
    };
    const engine = new JetStream(bus, { server_name: name, now: () => this.time }, n.jsStore);
    const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s.>"], duplicate_window: 3600e9, num_replicas: 3 });
    const stream = engine.streams.get("S") ?? engine.createStream(cfg, new Date(0).toISOString());
    const replica = new StreamReplica(stream, {
      engine,
      self: name,
      now: () => this.time,
      schedule,
      // A small log: replicas far behind (or that lost their store) catch up from a snapshot plus messages.
      compactEvery: this.o.compactEvery ?? 40,
      // The log in memory trimmed every 10 entries, the leader keeping ~40 for a lagging follower: laggards get
      // snapshots, and restarts replay from a durable snapshot older than what memory held.
      logBudget: { markEvery: 10, markBytes: 2048, maxBytes: 40 * 160 },
      intakeMaxBytes: this.o.intakeMaxBytes,
      // The store's fsync completes later, as the file store's does on the I/O threads (never, if the node crashes
      // first): compaction waits for it while entries go on being applied, snapshots installed, leaders change.
      syncStoreAsync: (done) => schedule(done),
      requestSync: (_group, from, to, index, _attempt) => {
        this.queue.push(() => {
          if (this.rand() < 0.05) return;
          for (const other of this.nodes.values()) {
            if (other === n || !other.alive) continue;
            const b = other.replica?.serveSync(from, to, index);
            if (!b) continue;
            this.queue.push(() => n.alive && n.incarnation === inc && n.replica?.onSyncBatch(b));
            this.syncs++;
            return;
          }
        });
      },
    });
    const transport = this.net.attach(name, (b) => {
      if (n.alive && n.incarnation === inc) host.receive(b);
    });
    const lossy = {
      send: (b: Parameters<typeof transport.send>[0]) => {
        if (this.rand() < 0.05) return; // lost on the wire
        transport.send(b);
      },
    };
    const host = new RaftHost({ id: name, transport: lossy, random: this.rand, schedule, deferApply: schedule });
    const skip = this.o.skipApply;
    replica.group = host.addGroup({
      group: "S",
      storage: n.raftStore,
      initial: { voters: NAMES, observers: [] },
      handlers: {
        apply: (e: Entry) => {
          if (skip && skip.node === name && e.kind === "cmd" && e.data[0] === 1) {
            const seq = new DataView(e.data.buffer, e.data.byteOffset).getFloat64(2);
            if (seq === skip.seq) return; // the planted bug: this replica loses one message
          }
          if (this.o.wrongSubject === name && e.kind === "cmd" && e.data[0] === 1) {
            const bad = e.data.slice();
            bad[20] = 0x74; // "s.keep" -> "t.keep"
            return replica.apply({ ...e, data: bad });
          }
          replica.apply(e);
        },
        restore: (snap) => replica.restore(snap),
        leaderChanged: (l) => replica.leaderChanged(l),
      },
    });
    n.host = host;
    n.replica = replica;
  }

  crash(name: string): void {
    const n = this.nodes.get(name)!;
    n.alive = false;
    this.net.detach(name);
    n.raftStore.crash();
    // Half the crashes also lose the stream's store (a replaced disk): the replica rebuilds it from a snapshot,
    // the others' stores and the log. Only while every other replica holds its whole store, as with Raft's
    // own logs: a majority of lost disks loses data in any replicated system.
    const othersWhole = [...this.nodes.values()].every((o) => o === n || (o.alive && !o.replica?.catchingUp));
    if (othersWhole && this.rand() < 0.5) n.jsStore = new MemoryStorage();
    n.host = undefined;
    n.replica = undefined;
    this.faults++;
  }

  onReply(subject: string, payload: Uint8Array): void {
    if (!subject.startsWith("_R.")) return;
    const id = subject.slice(3);
    const ack = JSON.parse(dec.decode(payload)) as { seq?: number; error?: unknown };
    if (ack.error || ack.seq === undefined) return;
    const prev = this.acked.get(id);
    if (prev !== undefined && prev !== ack.seq) {
      throw new Error(`seed ${this.o.seed}: ${id} acknowledged at ${prev} and again at ${ack.seq}`);
    }
    this.acked.set(id, ack.seq);
  }

  /** The client: a new publish, or a retry of one not acknowledged for a while. Every replica hears it. */
  publish(): void {
    let id: string | undefined;
    for (const [pid, at] of this.sentAt) {
      if (!this.acked.has(pid) && this.step - at > 60) {
        id = pid;
        break;
      }
    }
    if (id === undefined) {
      id = `m${this.#nextId++}`;
      if (this.rand() >= 0.2) this.keep.add(id); // the rest go to s.tmp, which purges take
    }
    this.sentAt.set(id, this.step);
    const subject = this.keep.has(id) ? "s.keep" : "s.tmp";
    const m: BusMsg = { subject, reply: `_R.${id}`, headers: encodeHeaders([["Nats-Msg-Id", id]]), payload: enc.encode(id) };
    for (const n of this.nodes.values()) if (n.alive) n.replica?.publish(m);
  }

  leader(): Node | undefined {
    for (const n of this.nodes.values()) if (n.alive && n.replica?.isLeader() && n.replica.ready) return n;
    return undefined;
  }

  drain(max: number): void {
    for (let i = 0; i < max && this.queue.length > 0; i++) this.queue.shift()!();
  }

  tick(): void {
    this.time += 50;
    for (const n of this.nodes.values()) {
      if (!n.alive) continue;
      n.host?.tick();
      n.replica?.tick();
    }
  }

  run(): SimResult {
    const r = this.rand;
    for (this.step = 0; this.step < this.o.steps; this.step++) {
      const x = r();
      if (x < 0.55) this.publish();
      else if (x < 0.85) this.tick();
      else if (!commonFault(this, x, r) && x < 0.96) this.leader()?.replica?.stream.purge({ filter: "s.tmp" });
      this.drain(randInt(r, 1, 40));
    }
    // Heal everything, bring everyone back, and let the client finish.
    this.net.heal();
    for (const n of this.nodes.values()) if (!n.alive) this.start(n.name);
    for (let i = 0; i < 4000 && [...this.sentAt.keys()].some((id) => !this.acked.has(id)); i++) {
      this.step++;
      this.publish();
      this.tick();
      this.drain(200);
    }
    for (let i = 0; i < 100; i++) {
      this.tick();
      this.drain(1000);
    }
    this.drain(100_000);
    const stores = new Map<string, Array<[number, string, string]>>();
    for (const n of this.nodes.values()) {
      const s = n.replica!.stream;
      const msgs: Array<[number, string, string]> = [];
      s.index.forEach(0, (seq) => {
        const m = s.load(seq)!;
        msgs.push([m.seq, m.subject, m.headers ? findHeader(m.headers, "Nats-Msg-Id") ?? "" : ""]);
      });
      stores.set(n.name, msgs);
    }
    // Everything settled: no replica still counts a proposal of its own as waiting (one never applied there, e.g.
    // under a snapshot installed after it lost the lead, would hold its intake, and a publisher, for good).
    const waiting = [...this.nodes.values()].flatMap((n) =>
      n.replica!.inFlight > 0 || n.replica!.backlog() > 0 ? [`${n.name}: ${n.replica!.inFlight} proposals, ${n.replica!.backlog()} bytes`] : []
    );
    return { acked: this.acked.size, faults: this.faults, syncs: this.syncs, stores, waiting };
  }

  /** The checker: same messages everywhere, every acknowledged kept publish exactly once where its ack said. */
  check(res: SimResult): void {
    const seed = this.o.seed;
    const [first] = [...res.stores.values()];
    for (const [name, msgs] of res.stores) {
      assert.deepEqual(msgs, first, `seed ${seed}: replica ${name} differs from ${NAMES[0]}`);
    }
    const byId = new Map<string, number[]>();
    for (const [seq, , id] of first) byId.set(id, [...(byId.get(id) ?? []), seq]);
    for (const [id, seqs] of byId) assert.equal(seqs.length, 1, `seed ${seed}: ${id} stored ${seqs.length} times`);
    for (let i = 1; i < first.length; i++) assert.ok(first[i][0] > first[i - 1][0], `seed ${seed}: order`);
    for (const [id, seq] of this.acked) {
      if (!this.keep.has(id)) continue;
      assert.deepEqual(byId.get(id), [seq], `seed ${seed}: acknowledged ${id} (seq ${seq}) is missing`);
    }
    assert.ok(this.acked.size > 50, `seed ${seed}: the run acknowledged only ${this.acked.size} publishes`);
    assert.deepEqual(res.waiting, [], `seed ${seed}: proposals still waiting once everything settled`);
  }
}


/** One seed, for `npm run sim`: null when the checker is satisfied, else what it found. */
export function runStreamSim(o: SimOptions): { violation: string | null; result?: SimResult } {
  const sim = new StreamSim(o);
  try {
    const result = sim.run();
    sim.check(result);
    return { violation: null, result };
  } catch (e) {
    return { violation: e instanceof Error ? e.message.split("\n")[0] : String(e) };
  }
}
