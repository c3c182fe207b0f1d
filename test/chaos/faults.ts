/**
 * Seeded fault injection for the chaos cluster: kill -9 and restart, SIGSTOP/SIGCONT of a leader, route
 * links cut and healed through the proxy (one server isolated, or one pair), leader step-downs (stream, KV,
 * meta) and peer removals. One disruptive fault at a time, so a quorum always exists somewhere: the checker
 * judges safety, and the harness notes how long the cluster took to serve again after each fault.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Random } from "../../src/raft/types.ts";
import type { ChaosCluster } from "./procs.ts";
import { BUCKET, CONSUMER, STREAM } from "./workload.ts";
import { sleep } from "../helpers/servers.ts";

export type FaultKind = "kill9" | "freeze" | "isolate" | "cut-pair" | "stepdown" | "meta-stepdown" | "peer-remove";

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  at: number;
  ms: number;
  note?: string;
}

const pick = <T>(rand: Random, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

interface ClusterInfo {
  leader?: string;
  replicas?: Array<{ name: string }>;
}

async function jsApi(nc: NatsConnection, subject: string, body = ""): Promise<Record<string, unknown> | undefined> {
  try {
    const m = await nc.request(subject, body, { timeout: 2000 });
    return m.json<Record<string, unknown>>();
  } catch {
    return undefined;
  }
}

export async function streamCluster(nc: NatsConnection, stream: string): Promise<ClusterInfo | undefined> {
  const r = await jsApi(nc, `$JS.API.STREAM.INFO.${stream}`);
  return r?.cluster as ClusterInfo | undefined;
}

export class FaultInjector {
  readonly log: FaultRecord[] = [];
  peerRemovals = 0;
  #lastPeerRemove = -Infinity;

  constructor(
    private readonly c: ChaosCluster,
    private readonly nc: NatsConnection,
    private readonly rand: Random,
    private readonly t0: number,
    /** How long a victim stays down, frozen or cut off: [min, max) ms. */
    private readonly hold: readonly [number, number] = [1000, 5000],
  ) {}

  #index(name: string | undefined): number {
    return name === undefined ? -1 : this.c.names.indexOf(name);
  }

  /** A leader of one of the replicated groups, or any up server when none is known. */
  async #leaderOrAny(): Promise<number> {
    const r = this.rand();
    let name: string | undefined;
    if (r < 0.4) name = (await streamCluster(this.nc, STREAM))?.leader;
    else if (r < 0.7) name = (await streamCluster(this.nc, `KV_${BUCKET}`))?.leader;
    else if (r < 0.85) {
      const jsz = await this.c.monitor<{ meta_cluster?: { leader?: string } }>(this.#anyUp(), "/jsz");
      name = jsz?.meta_cluster?.leader;
    }
    const i = this.#index(name);
    return i >= 0 && this.c.state[i] === "up" ? i : this.#anyUp();
  }

  /** Which groups server i leads now (stream, its consumer, the bucket, meta), for the fault log. */
  async #roles(i: number): Promise<string> {
    const name = this.c.names[i];
    const roles: string[] = [];
    if ((await streamCluster(this.nc, STREAM))?.leader === name) roles.push("stream");
    const ci = await jsApi(this.nc, `$JS.API.CONSUMER.INFO.${STREAM}.${CONSUMER}`);
    if ((ci?.cluster as { leader?: string } | undefined)?.leader === name) roles.push("consumer");
    if ((await streamCluster(this.nc, `KV_${BUCKET}`))?.leader === name) roles.push("kv");
    const jsz = await this.c.monitor<{ meta_cluster?: { leader?: string } }>(this.#anyUp(), "/jsz");
    if (jsz?.meta_cluster?.leader === name) roles.push("meta");
    return roles.length > 0 ? `leads ${roles.join("+")}` : "follower";
  }

  #anyUp(): number {
    const up = this.c.state.map((s, i) => (s === "up" ? i : -1)).filter((i) => i >= 0);
    return pick(this.rand, up);
  }

  /** Inject one fault, chosen and timed by the seed; resolves once it is over (the victim back). */
  async injectOne(forced?: FaultKind): Promise<FaultRecord> {
    const kinds: FaultKind[] = ["kill9", "kill9", "freeze", "freeze", "isolate", "cut-pair", "stepdown", "meta-stepdown"];
    // Peer removal re-places a whole replica: at most one per 20 s so catch-up is not the only thing going on.
    if (performance.now() - this.#lastPeerRemove > 20_000) kinds.push("peer-remove");
    const drawn = pick(this.rand, kinds);
    const kind = forced ?? drawn;
    const hold = this.hold[0] + Math.floor(this.rand() * (this.hold[1] - this.hold[0]));
    const at = performance.now() - this.t0;
    const t = performance.now();
    let target = "";
    let note: string | undefined;
    switch (kind) {
      case "kill9": {
        const i = await this.#leaderOrAny();
        target = this.c.names[i];
        note = await this.#roles(i);
        await this.c.kill9(i);
        await sleep(hold);
        await this.c.restart(i);
        break;
      }
      case "freeze": {
        const i = await this.#leaderOrAny();
        target = this.c.names[i];
        note = await this.#roles(i);
        this.c.freeze(i);
        await sleep(hold);
        this.c.thaw(i);
        break;
      }
      case "isolate": {
        const i = await this.#leaderOrAny();
        target = this.c.names[i];
        note = await this.#roles(i);
        for (let j = 0; j < this.c.size; j++) if (j !== i) this.c.proxy.cut(i, j);
        await sleep(hold);
        this.c.proxy.healAll();
        break;
      }
      case "cut-pair": {
        const a = await this.#leaderOrAny();
        let b = Math.floor(this.rand() * (this.c.size - 1));
        if (b >= a) b++;
        target = `${this.c.names[a]}-${this.c.names[b]}`;
        this.c.proxy.cut(a, b);
        await sleep(hold);
        this.c.proxy.heal(a, b);
        break;
      }
      case "stepdown": {
        const stream = this.rand() < 0.5 ? STREAM : `KV_${BUCKET}`;
        target = stream;
        const r = await jsApi(this.nc, `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`);
        note = r?.error ? JSON.stringify(r.error) : r ? "ok" : "no answer";
        break;
      }
      case "meta-stepdown": {
        target = "meta";
        const r = await jsApi(this.nc, "$JS.API.META.LEADER.STEPDOWN");
        note = r?.error ? JSON.stringify(r.error) : r ? "ok" : "no answer";
        break;
      }
      case "peer-remove": {
        const stream = this.rand() < 0.6 ? STREAM : `KV_${BUCKET}`;
        const ci = await streamCluster(this.nc, stream);
        const peers = [ci?.leader, ...(ci?.replicas ?? []).map((r) => r.name)].filter((p): p is string => !!p);
        if (peers.length === 0) {
          target = stream;
          note = "no stream info";
          break;
        }
        const peer = pick(this.rand, peers);
        target = `${stream}:${peer}`;
        const r = await jsApi(this.nc, `$JS.API.STREAM.PEER.REMOVE.${stream}`, JSON.stringify({ peer }));
        note = r?.error ? JSON.stringify(r.error) : r ? "ok" : "no answer";
        if (r && !r.error) this.peerRemovals++;
        this.#lastPeerRemove = performance.now();
        break;
      }
    }
    const rec: FaultRecord = { kind, target, at: Math.round(at), ms: Math.round(performance.now() - t), note };
    this.log.push(rec);
    return rec;
  }
}
