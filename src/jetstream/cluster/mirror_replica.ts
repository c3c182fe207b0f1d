/**
 * Mirrors and sources of replicated streams. Only the stream's leader, once it has applied its whole log, runs
 * a feed per origin (an ordered, flow-controlled push consumer on the origin, asked through `$JS.API` or the
 * origin's `external.api`); what it receives it proposes through the stream's group, so every replica stores
 * the same messages. The origin sequence travels in the entry: a mirror's entry keeps the origin's sequence, a
 * source's carries it in `Nats-Stream-Source`, which every replica reads back as it applies (`positions`).
 * A new leader therefore resumes from the replicated position: what the old one proposed and got committed is
 * applied before the new one is ready, what it proposed and lost is asked for again; nothing twice, no gap.
 */
import { findHeader } from "../../protocol/headers.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { JetStream } from "../engine.ts";
import { type ExternalOrigin, ExternalFeed } from "../external.ts";
import type { Stream } from "../stream.ts";
import type { StoredMsg } from "../store/types.ts";
import type { StreamReplica } from "./stream_replica.ts";

/** How far back a leader looks for a source's last `Nats-Stream-Source` when no replica recorded it (restart). */
const SCAN_LIMIT = 10_000;

/** The origin sequence a `Nats-Stream-Source` value (`<iname> <seq>[ <filter> <transform>]`) names for `iname`. */
export function sourcedSeq(value: string | undefined, iname: string): number | undefined {
  if (value === undefined || !value.startsWith(iname + " ")) return undefined;
  const seq = Number(value.slice(iname.length + 1).split(" ")[0]);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}

/** The origin's name in a `Nats-Stream-Source` value (up to the first space). */
function inameOf(value: string): string {
  const i = value.indexOf(" ");
  return i < 0 ? value : value.slice(0, i);
}

/** The last origin sequence a stored message of `s` records for `iname` (newest first, bounded). */
export function scanSourced(s: Stream, iname: string): number {
  let found = 0;
  let n = 0;
  s.index.forEachBack(s.lastSequence, (seq) => {
    if (n++ >= SCAN_LIMIT) return false;
    const m = s.load(seq);
    const at = sourcedSeq(m?.headers ? findHeader(m.headers, "Nats-Stream-Source") : undefined, iname);
    if (at === undefined) return;
    found = at;
    return false;
  });
  return found;
}

/** The origins a stream config feeds from, with whether it is a mirror. */
function originsOf(s: Stream): Array<{ origin: ExternalOrigin; mirror: boolean }> {
  const cfg = s.cfg;
  if (cfg.mirror) return [{ origin: cfg.mirror, mirror: true }];
  return (cfg.sources ?? []).map((origin) => ({ origin, mirror: false }));
}

interface Running {
  readonly replica: StreamReplica;
  readonly stream: Stream;
  /** Origin config key -> its feed. */
  readonly feeds: Map<string, ExternalFeed>;
}

export interface MirrorDeps {
  readonly engine: JetStream;
  readonly clock: Clock;
  readonly now: () => number;
}

export class ReplicatedFeeds {
  readonly #deps: MirrorDeps;
  /** By stream name: the feeds this server runs as the stream's leader. */
  readonly #running = new Map<string, Running>();
  /** Per stream (object): the last origin sequence applied from each source, as every replica records it. */
  readonly #positions = new WeakMap<Stream, Map<string, number>>();

  constructor(deps: MirrorDeps) {
    this.#deps = deps;
  }

  /**
   * Called on every tick of the cluster: the ready leaders of mirroring/sourcing streams run their feeds, every
   * other replica runs none (and records source positions as it applies).
   */
  tick(replicas: ReadonlyMap<string, StreamReplica>): void {
    for (const [name, run] of this.#running) {
      const r = replicas.get(name);
      if (r !== run.replica || r.stream !== run.stream || !r.isLeader() || !r.ready || originsOf(r.stream).length === 0) {
        this.#stop(name);
      }
    }
    for (const [name, r] of replicas) {
      const origins = originsOf(r.stream);
      if (origins.length === 0) continue;
      this.#track(r.stream);
      if (!r.isLeader() || !r.ready) continue;
      let run = this.#running.get(name);
      if (!run) {
        run = { replica: r, stream: r.stream, feeds: new Map() };
        this.#running.set(name, run);
      }
      const wanted = new Set<string>();
      for (const { origin, mirror } of origins) {
        const key = `${mirror ? "M" : "S"}\u0000${JSON.stringify(origin)}`;
        wanted.add(key);
        if (!run.feeds.has(key)) run.feeds.set(key, this.#feed(run, origin, mirror));
      }
      for (const [key, f] of run.feeds) {
        if (wanted.has(key)) continue;
        f.close();
        run.feeds.delete(key);
      }
    }
  }

  /** The feed of `stream`'s mirror or source `origin` this server runs, for stream info. */
  feedOf(stream: string, origin: string): ExternalFeed | undefined {
    for (const f of this.#running.get(stream)?.feeds.values() ?? []) if (f.origin.name === origin) return f;
    return undefined;
  }

  close(): void {
    for (const name of [...this.#running.keys()]) this.#stop(name);
  }

  #stop(name: string): void {
    const run = this.#running.get(name);
    if (!run) return;
    this.#running.delete(name);
    for (const f of run.feeds.values()) f.close();
  }

  /** Every replica of a sourcing stream records, as it applies, the last origin sequence of each source. */
  #track(s: Stream): void {
    if (this.#positions.has(s) || s.cfg.mirror) return;
    const pos = new Map<string, number>();
    this.#positions.set(s, pos);
    s.downstream.add((m: StoredMsg) => {
      const v = m.headers ? findHeader(m.headers, "Nats-Stream-Source") : undefined;
      if (v === undefined) return;
      const iname = inameOf(v);
      const seq = sourcedSeq(v, iname);
      if (seq !== undefined && seq > (pos.get(iname) ?? 0)) pos.set(iname, seq);
    });
  }

  /** The last origin sequence the stream holds from `iname`: recorded while applying, else read from the store. */
  #sourced(s: Stream, iname: string): number {
    const known = this.#positions.get(s)?.get(iname);
    if (known !== undefined) return known;
    const seq = scanSourced(s, iname);
    this.#positions.get(s)?.set(iname, seq);
    return seq;
  }

  #feed(run: Running, origin: ExternalOrigin, mirror: boolean): ExternalFeed {
    const { engine, clock, now } = this.#deps;
    const r = run.replica;
    const s = run.stream;
    const feed = new ExternalFeed({
      bus: engine.bus,
      clock,
      resumeAfter: (iname) => (mirror ? s.lastSequence : this.#sourced(s, iname)),
      store: (m) => {
        if (!r.isLeader() || !r.ready) return;
        if (mirror) {
          r.propose({ op: "msg", seq: m.seq, ts: now(), subject: m.subject, headers: m.headers, data: m.data, mirrored: true }, undefined);
          return;
        }
        // A sourced message is published into the stream by its leader: sequence, limits and dedupe as for any.
        r.publish({ subject: m.subject, headers: m.headers, payload: m.data });
      },
    }, origin, mirror);
    feed.start();
    return feed;
  }
}
