/** A deterministic cluster of RaftHosts over the in-memory network, for the unit tests. */
import { RaftHost, type RaftGroup } from "../../src/raft/host.ts";
import { MemoryRaftNetwork } from "../../src/raft/memory_network.ts";
import { MemoryStorage } from "../../src/raft/memory_storage.ts";
import { seededRandom } from "../../src/raft/prng.ts";
import type { Entry, Membership, PeerId, Snapshot } from "../../src/raft/types.ts";

export interface Replica {
  readonly host: RaftHost;
  readonly applied: Map<string, string[]>;
  readonly storages: Map<string, MemoryStorage>;
}

export class Cluster {
  readonly queue: (() => void)[] = [];
  readonly net: MemoryRaftNetwork;
  readonly replicas = new Map<PeerId, Replica>();
  #seed = 1;

  constructor(readonly ids: readonly PeerId[]) {
    const schedule = (fn: () => void) => void this.queue.push(fn);
    this.net = new MemoryRaftNetwork({ schedule });
    for (const id of ids) this.addHost(id);
  }

  addHost(id: PeerId): Replica {
    const schedule = (fn: () => void) => void this.queue.push(fn);
    let host: RaftHost | null = null;
    const transport = this.net.attach(id, (b) => host?.receive(b));
    host = new RaftHost({ id, transport, random: seededRandom(this.#seed++), schedule });
    const r: Replica = { host, applied: new Map(), storages: new Map() };
    this.replicas.set(id, r);
    return r;
  }

  addGroup(group: string, initial: Membership, on: readonly PeerId[] = this.ids): void {
    for (const id of on) {
      const r = this.replicas.get(id) as Replica;
      const log: string[] = [];
      r.applied.set(group, log);
      const storage = new MemoryStorage();
      r.storages.set(group, storage);
      r.host.addGroup({
        group,
        storage,
        initial,
        handlers: {
          apply: (e: Entry) => {
            if (e.kind === "cmd") log.push(new TextDecoder().decode(e.data));
          },
          restore: (s: Snapshot) => {
            log.length = 0;
            const text = new TextDecoder().decode(s.data);
            if (text) log.push(...text.split(","));
          },
        },
      });
    }
  }

  /** Run queued deliveries and flushes until quiet. */
  drain(): void {
    for (let n = 0; this.queue.length > 0 && n < 1_000_000; n++) (this.queue.shift() as () => void)();
  }

  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const r of this.replicas.values()) r.host.tick();
      this.drain();
    }
  }

  group(id: PeerId, group: string): RaftGroup {
    return this.replicas.get(id)?.host.groups.get(group) as RaftGroup;
  }

  leaderOf(group: string): PeerId | null {
    for (const [id, r] of this.replicas) if (r.host.groups.get(group)?.isLeader()) return id;
    return null;
  }

  /** Tick until the group has a leader (bounded). */
  elect(group: string, maxTicks = 200): PeerId {
    for (let i = 0; i < maxTicks; i++) {
      const l = this.leaderOf(group);
      if (l) return l;
      this.tick();
    }
    throw new Error(`no leader for ${group} after ${maxTicks} ticks`);
  }

  propose(group: string, text: string): void {
    const l = this.elect(group);
    const r = this.group(l, group).propose(new TextEncoder().encode(text));
    if (!r.ok) throw new Error(`propose failed: ${r.error}`);
    this.drain();
  }

  applied(id: PeerId, group: string): string[] {
    return this.replicas.get(id)?.applied.get(group) ?? [];
  }
}
