// A stream replica n1 leading stream S with its Raft group reduced to a leadership, a term and a log of proposals,
// for tests of what the replica does with its publishes as the leadership moves (transfer_batch, replaced_entry),
// and of what its consumer groups do with their assignments (consumer_commit: `extra` wires them in).
import { streamConfigSchema } from "../../src/jetstream/config_schema.ts";
import { JetStream } from "../../src/jetstream/engine.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import { type ReplicaDeps, StreamReplica } from "../../src/jetstream/cluster/stream_replica.ts";
import type { RaftGroup } from "../../src/raft/host.ts";
import type { Entry } from "../../src/raft/types.ts";
import type { BusMsg, JsBus } from "../../src/jetstream/types.ts";

const dec = new TextDecoder();

export function loneLeader(extra: Partial<ReplicaDeps> = {}, config: Record<string, unknown> = {}) {
  const answers: Array<{ subject: string; body: Record<string, unknown> }> = [];
  const forwarded: Array<{ to: string; m: BusMsg }> = [];
  const bus: JsBus = {
    subscribe: () => 0,
    unsubscribe: () => {},
    publish: (subject, payload) => answers.push({ subject, body: JSON.parse(dec.decode(payload)) }),
  };
  const engine = new JetStream(bus, { server_name: "n1", now: () => 0 }, new MemoryStorage());
  const cfg = streamConfigSchema.parse({ name: "S", subjects: ["s.>"], num_replicas: 3, ...config });
  // The replica's batch flush, scheduled through this queue and run by `flush` (instead of a microtask).
  const scheduled: Array<() => void> = [];
  const flush = () => {
    for (const fn of scheduled.splice(0)) fn();
  };
  const replica = new StreamReplica(engine.createStream(cfg, new Date(0).toISOString()), {
    engine,
    self: "n1",
    now: () => 0,
    schedule: (fn) => void scheduled.push(fn),
    forward: (to, m) => void forwarded.push({ to, m }),
    ...extra,
  });
  const log: Entry[] = [{ index: 1, term: 1, kind: "noop", data: new Uint8Array(0) }];
  // `transferring`: a leadership transfer runs. `refuses`: the Raft node already lost the leadership (a higher
  // term in the same flush), the replica not yet told.
  // `transferredFrom`: the old leader whose transfer this server's leadership came from (a hand-off's successor).
  // `answering`: the followers this leader's Raft progress shows answering (a hand-off's successor waits for its old
  // leader's end mark while that one answers).
  const answering = new Set<string>();
  const node = {
    term: 1,
    transferring: false,
    refuses: false,
    transferredFrom: null as string | null,
    log: { snapIndex: 0, lastIndex: () => log.length },
    answering,
    progress: () => new Map([...answering].map((p) => [p, { match: 0, next: 1, active: true }])),
  };
  const group = {
    id: "g",
    leader: "n1" as string | null,
    node,
    isLeader: () => group.leader === "n1",
    proposeBatch(data: readonly Uint8Array[]) {
      if (group.leader !== "n1" || node.refuses) return { ok: false, error: "not_leader", leader: null };
      if (node.transferring) return { ok: false, error: "transferring", leader: "n1" };
      for (const d of data) log.push({ index: log.length + 1, term: node.term, kind: "cmd", data: d });
      return { ok: true, index: log.length, term: node.term };
    },
    snapshotAt: () => null,
  };
  replica.group = group as unknown as RaftGroup;
  replica.apply(log[0]); // the leader's no-op: ready
  const commitAll = (from: number) => {
    for (const e of log.slice(from - 1)) replica.apply(e);
  };
  /** Another server leads from `term` on (null: nobody known yet). */
  const loseTo = (other: string | null, term: number) => {
    node.term = term;
    group.leader = other;
    replica.leaderChanged(other);
  };
  // Publishes only: not the end mark an old leader sends its successor after them (BusMsg.handoffEnd).
  const publishes = () => forwarded.filter((f) => f.m.handoffEnd !== true);
  /** What the replica passed on to a leader: [to, subject, reply, payload]. */
  const sent = () => publishes().map((f) => [f.to, f.m.subject, f.m.reply, dec.decode(f.m.payload)]);
  /** Where each passed-on publish belongs if it is a re-send: [payload, k, after] (ResendMark). */
  const marks = () => publishes().map((f) => [dec.decode(f.m.payload), f.m.resend?.k, f.m.resend?.after]);
  return { replica, engine, group, node, log, answers, commitAll, flush, loseTo, sent, marks, forwarded };
}
