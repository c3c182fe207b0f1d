/**
 * Deterministic simulation of a replicated consumer: three replicas (the real ConsumerReplica, Consumer and
 * RaftHost) on the Raft library's in-memory network, driven from a seed. Messages are lost, links cut, replicas
 * crash and restart from their Raft storage; the leader delivers to a client's pull requests, the client acks
 * most deliveries (asking for a reply) and lets the rest run into their ack wait. Each replica holds the same
 * stream (the stream's own replication is stream_sim.ts's business).
 *
 * Checked: on every replica the consumer's ack floor and delivered sequence never go back (asserted inside
 * `apply`, so a violation throws at once); an ack the client saw confirmed is never delivered again; in the
 * end every message is acknowledged and all replicas hold the same consumer state. A bug can be planted in one
 * replica's apply path through the test-only `tamper` seam. Used by test/jsraft/consumer_sim.test.ts and
 * `npm run sim`.
 */
import { RaftHost } from "../../src/raft/host.ts";
import { MemoryRaftNetwork } from "../../src/raft/memory_network.ts";
import { MemoryStorage as RaftMemoryStorage } from "../../src/raft/memory_storage.ts";
import { randInt, seededRandom } from "../../src/raft/prng.ts";
import type { Random } from "../../src/raft/types.ts";
import { consumerConfigSchema, streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { JetStream } from "../../src/jetstream/engine.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { type ConsumerCmd, type ConsumerEvent, ConsumerReplica } from "../../src/jetstream/cluster/consumer_replica.ts";
import type { ConsumerState } from "../../src/jetstream/consumer.ts";
import type { JsBus } from "../../src/jetstream/types.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import assert from "node:assert/strict";
import { commonFault, NAMES } from "./faults.ts";

const enc = new TextEncoder();
const START = 1_700_000_000_000;

/** Bugs the checker must catch, planted in one replica's apply path. */
export type ConsumerSimBug =
  /** Replica b applies, now and then, an entry it applied two entries before instead of the new one (a stale apply). */
  | "rewind"
  /** Replica c forgets each delivery's pending message (as if given up): a leader from it never redelivers those. */
  | "forgetPending"
  /** Replica c loses some of the acks in the entries it applies: a leader from it delivers acknowledged messages again. */
  | "dropAcks";
export const CONSUMER_SIM_BUGS: readonly ConsumerSimBug[] = ["rewind", "forgetPending", "dropAcks"];

export interface ConsumerSimOptions {
  seed: number;
  steps: number;
  /** Messages in the stream. */
  messages?: number;
  bug?: ConsumerSimBug;
}

export interface ConsumerSimResult {
  faults: number;
  deliveries: number;
  redeliveries: number;
  confirmed: number;
  leaders: number;
  /** Snapshots a replica installed from its leader to catch up. */
  installed: number;
  states: Map<string, ConsumerState | undefined>;
}

interface Node {
  name: string;
  alive: boolean;
  incarnation: number;
  raftStore: RaftMemoryStorage;
  engine?: JetStream;
  host?: RaftHost;
  rep?: ConsumerReplica;
}

export class ConsumerSim {
  readonly rand: Random;
  readonly queue: Array<() => void> = [];
  readonly net: MemoryRaftNetwork;
  readonly nodes = new Map<string, Node>();
  readonly clock = new ManualClock(START);
  /** Acks the client saw confirmed (stream seqs). */
  readonly confirmed = new Set<number>();
  /** Stream seqs the client acknowledged (confirmed or not). */
  readonly acked = new Set<number>();
  faults = 0;
  deliveries = 0;
  redeliveries = 0;
  leaders = 0;
  installed = 0;
  readonly #messages: number;
  #lastLeader: string | undefined;
  #prevCmds = new Map<string, ConsumerCmd[]>();

  constructor(readonly o: ConsumerSimOptions) {
    this.rand = seededRandom(o.seed);
    this.#messages = o.messages ?? 200;
    this.net = new MemoryRaftNetwork({ schedule: (fn) => this.queue.push(fn) });
    for (const name of NAMES) {
      this.nodes.set(name, { name, alive: false, incarnation: 0, raftStore: new RaftMemoryStorage() });
      this.start(name);
    }
  }

  #tamper(name: string): ((cmd: ConsumerCmd) => ConsumerCmd) | undefined {
    const bug = this.o.bug;
    if (bug === "rewind" && name === "b") {
      // It keeps the last three entries and now and then applies the oldest.
      return (cmd) => {
        const kept = [...(this.#prevCmds.get(name) ?? []), cmd].slice(-3);
        this.#prevCmds.set(name, kept);
        return kept.length === 3 && this.rand() < 0.2 ? kept[0] : cmd;
      };
    }
    if (bug === "dropAcks" && name === "c") {
      return (cmd) => cmd.op === "state" ? cmd : { op: "delta", events: cmd.events.filter((e) => e.k !== "a" || this.rand() < 0.7) };
    }
    if (bug === "forgetPending" && name === "c") {
      return (cmd) => {
        if (cmd.op === "state") return { op: "state", state: { ...cmd.state, pending: [] } };
        const events: ConsumerEvent[] = [];
        for (const e of cmd.events) {
          events.push(e);
          if (e.k === "d" && e.awaitAck) events.push({ k: "x", sseq: e.sseq });
        }
        return { op: "delta", events };
      };
    }
    return undefined;
  }

  start(name: string): void {
    const n = this.nodes.get(name)!;
    n.alive = true;
    const inc = ++n.incarnation;
    const live = () => n.alive && n.incarnation === inc;
    const schedule = (fn: () => void) => this.queue.push(() => live() && fn());
    const bus: JsBus = {
      subscribe: () => 0,
      unsubscribe: () => {},
      publish: (subject, _payload, opts) => {
        if (live()) this.#onPublish(name, subject, opts?.reply);
      },
    };
    const engine = new JetStream(bus, { server_name: name, clock: this.clock }, new MemoryStorage());
    const stream = engine.createStream(streamConfigSchema.parse({ name: "S", subjects: ["s.>"], num_replicas: 3 }), new Date(0).toISOString());
    for (let i = 1; i <= this.#messages; i++) {
      stream.apply({ op: "msg", seq: i, ts: START + i, subject: `s.${i % 7}`, headers: undefined, data: enc.encode(`m${i}`) });
    }
    const cfg = consumerConfigSchema.parse({ durable_name: "C", ack_policy: "explicit", ack_wait: 2_000_000_000, max_ack_pending: 20, max_waiting: 512 });
    const rep = new ConsumerReplica(stream, "C", cfg, new Date(0).toISOString(), undefined, {
      engine,
      self: name,
      schedule,
      compactEvery: 16,
      tamper: this.#tamper(name),
    });
    // The engine's hooks into the cluster: the live consumer's changes go to its replica.
    engine.cluster = {
      api: () => false,
      publish: () => {},
      consumerChanged: () => {},
      consumerDeleted: () => {},
      consumerState: (c) => {
        if (rep.live === c) rep.noteState();
      },
      ackReply: (c, reply) => {
        if (rep.live !== c) return false;
        rep.holdAckReply(reply);
        return true;
      },
      streamCluster: () => ({}),
    };
    const transport = this.net.attach(name, (b) => {
      if (live()) host.receive(b);
    });
    const lossy = {
      send: (b: Parameters<typeof transport.send>[0]) => {
        if (this.rand() < 0.05) return;
        transport.send(b);
      },
    };
    const host = new RaftHost({ id: name, transport: lossy, random: this.rand, schedule, deferApply: schedule });
    rep.group = host.addGroup({
      group: "C",
      storage: n.raftStore,
      initial: { voters: NAMES, observers: [] },
      handlers: {
        apply: (e) => rep.apply(e),
        restore: (s) => rep.restore(s),
        leaderChanged: (l) => rep.leaderChanged(l),
      },
    });
    n.engine = engine;
    n.host = host;
    n.rep = rep;
  }

  crash(name: string): void {
    const n = this.nodes.get(name)!;
    n.alive = false;
    this.net.detach(name);
    n.raftStore.crash();
    this.installed += n.rep?.installed ?? 0;
    n.rep?.close();
    n.engine?.stop();
    n.host = undefined;
    n.rep = undefined;
    n.engine = undefined;
    this.#prevCmds.delete(name);
    this.faults++;
  }

  #onPublish(from: string, subject: string, reply: string | undefined): void {
    if (subject.startsWith("_A.")) {
      this.confirmed.add(Number(subject.slice(3)));
      return;
    }
    if (!reply?.startsWith("$JS.ACK.")) return; // 404/408 statuses to the pull inbox
    const t = reply.split(".");
    const dc = Number(t[4]), seq = Number(t[5]);
    this.deliveries++;
    if (dc > 1) this.redeliveries++;
    if (this.confirmed.has(seq)) {
      throw new Error(`seed ${this.o.seed}: ${from} delivered ${seq} again (delivery ${dc}) after its ack was confirmed`);
    }
    // The client acks most deliveries at once, through whichever server leads then; the rest time out.
    if (this.rand() < 0.75) {
      this.queue.push(() => {
        const l = this.leader();
        if (!l) return;
        this.acked.add(seq);
        l.rep!.live!.processAck(seq, enc.encode("+ACK"), `_A.${seq}`);
      });
    }
  }

  leader(): Node | undefined {
    for (const n of this.nodes.values()) if (n.alive && n.rep?.isLeader() && n.rep.ready && n.rep.live) return n;
    return undefined;
  }

  pull(): void {
    const l = this.leader();
    if (!l) return;
    if (l.name !== this.#lastLeader) {
      this.#lastLeader = l.name;
      this.leaders++;
    }
    l.rep!.live!.pullRequest(`_INBOX.${this.leaders}`, enc.encode(JSON.stringify({ batch: randInt(this.rand, 1, 6), no_wait: true })));
  }

  tick(): void {
    this.clock.advance(50);
    for (const n of this.nodes.values()) {
      if (!n.alive) continue;
      n.engine?.flushConsumers();
      n.host?.tick();
      n.rep?.tick();
    }
  }

  async drain(max: number): Promise<void> {
    for (let i = 0; i < max && this.queue.length > 0; i++) {
      this.queue.shift()!();
      // Consumers kick their delivery in a microtask: let those run in order, as a runtime would.
      await null;
    }
    await null;
  }

  /** The client acknowledged every message, and the leader's replicated state says so. */
  allAcked(): boolean {
    const st = this.leader()?.rep?.state;
    if (st === undefined || st.ack_floor.stream_seq < this.#messages || st.pending.length > 0) return false;
    return this.firstUnacked() === undefined;
  }

  firstUnacked(): number | undefined {
    for (let i = 1; i <= this.#messages; i++) if (!this.acked.has(i)) return i;
    return undefined;
  }

  async run(): Promise<ConsumerSimResult> {
    const r = this.rand;
    for (let step = 0; step < this.o.steps; step++) {
      const x = r();
      if (x < 0.35) this.pull();
      else if (x < 0.85) this.tick();
      else if (!commonFault(this, x, r) && x < 0.96) {
        // A step-down: the leader hands over once its latest state is applied.
        const l = this.leader();
        if (l) {
          l.rep!.stepDownAfterFlush(() => l.rep?.group.stepDown());
          this.faults++;
        }
      }
      await this.drain(randInt(r, 1, 40));
    }
    // Heal everything, bring everyone back, and let the client take and ack the rest.
    this.net.heal();
    for (const n of this.nodes.values()) if (!n.alive) this.start(n.name);
    for (let i = 0; i < 1000 && !this.allAcked(); i++) {
      this.pull();
      this.tick();
      await this.drain(400);
    }
    for (let i = 0; i < 60; i++) {
      this.tick();
      await this.drain(1000);
    }
    await this.drain(100_000);
    const states = new Map<string, ConsumerState | undefined>();
    for (const n of this.nodes.values()) {
      states.set(n.name, n.rep?.state);
      this.installed += n.rep?.installed ?? 0;
    }
    const { faults, deliveries, redeliveries, leaders, installed } = this;
    return { faults, deliveries, redeliveries, confirmed: this.confirmed.size, leaders, installed, states };
  }

  /** The end: every message acknowledged, every replica holding the same state. */
  check(res: ConsumerSimResult): void {
    const seed = this.o.seed;
    const missing = this.firstUnacked();
    assert.equal(missing, undefined, `seed ${seed}: message ${missing} was never delivered again, so never acknowledged`);
    assert.ok(this.allAcked(), `seed ${seed}: not every message was acknowledged in the end (${JSON.stringify(this.leader()?.rep?.state?.ack_floor)})`);
    const [first] = [...res.states.values()];
    for (const [name, st] of res.states) {
      const view = (s: ConsumerState | undefined) => s && { ack_floor: s.ack_floor, delivered: s.delivered, pending: s.pending, cursor: s.cursor };
      assert.deepEqual(view(st), view(first), `seed ${seed}: replica ${name} holds another consumer state`);
    }
    assert.ok(res.confirmed > 50, `seed ${seed}: only ${res.confirmed} acks confirmed`);
  }
}

/** One seed, for `npm run sim`: null when the checker is satisfied, else what it found. */
export async function runConsumerSim(o: ConsumerSimOptions): Promise<{ violation: string | null; result?: ConsumerSimResult }> {
  const sim = new ConsumerSim(o);
  try {
    const result = await sim.run();
    sim.check(result);
    return { violation: null, result };
  } catch (e) {
    return { violation: e instanceof Error ? e.message.split("\n")[0] : String(e) };
  }
}
