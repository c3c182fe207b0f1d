import { subjectMatches, subjectsIntersect } from "../subjects/subject.ts";
import { appendHeaderLines, findHeader } from "../protocol/headers.ts";
import { handleApi, needsSchemas } from "./api.ts";
import {
  checkConsumerConfig,
  type ConsumerConfig,
  consumerFilters,
  type StreamConfig,
} from "./config.ts";
import { jsSchemasLoaded, loadJsSchemas } from "./schemas_on_demand.ts";
import { checkStoredConsumerConfig, checkStoredStreamConfig } from "./stored_config.ts";
import { Consumer, type ConsumerHost, type ConsumerState } from "./consumer.ts";
import { AckRoutes } from "./ack_route.ts";
import { type ApiError, Errors } from "./errors.ts";
import { Advisories } from "./advisories.ts";
import { type ExternalOrigin, ExternalFeed } from "./external.ts";
import {
  type AccountLimits,
  checkConsumerLimit,
  checkStoreLimit,
  checkStreamLimits,
  reservedBytes,
  type StreamUsage,
  UNLIMITED,
} from "./limits.ts";
import { MemoryStorage } from "./store/memory.ts";
import { type StorageProvider, storedSize, type StoredMsg } from "./store/types.ts";
import { type PubAck, Stream } from "./stream.ts";
import type { BusMsg, EngineOptions, JsBus } from "./types.ts";
import { type Clock, runtimeClock, type Timer } from "../runtime/clock.ts";
import { lightClock, lightTimeout } from "../runtime/light_timers.ts";
import { smallBytes } from "../server/small_bytes.ts";
import { digitCount, writeInt } from "../server/outbound.ts";

const enc = new TextEncoder();

/**
 * What replicated JetStream (src/jetstream/cluster/) plugs into the engine of a clustered server: it takes
 * API requests it answers itself, turns publishes into proposals and replicates consumer changes.
 */
export interface EngineCluster {
  /** An API request: true when the cluster layer took it (answered it, or it is another server's to answer). */
  api(m: BusMsg): boolean;
  /** A message on a stream's subjects (the stream's leader proposes it, the others ignore it). */
  publish(s: Stream, m: BusMsg): void;
  /** A consumer was created or updated by this server's API handler. */
  consumerChanged(c: Consumer): void;
  /** A consumer was deleted by this server's API handler. */
  consumerDeleted(c: Consumer): void;
  /**
   * A create of consumer `c` (request `m`) that this server's API handled: true when the cluster sends `answer`
   * itself, once the consumer's assignment is committed.
   */
  answerCreate?(c: Consumer, m: BusMsg, answer: (err?: ApiError) => void): boolean;
  /**
   * An update of consumer `c` to `cfg` by this server's API: true when the cluster takes it (`c` is changed as the
   * update is applied, once committed, and the create that asked is answered then: `answerCreate`).
   */
  consumerUpdate?(c: Consumer, cfg: ConsumerConfig): boolean;
  /**
   * An API delete of consumer `c`: true when the cluster deletes it and sends `answer` once its removal is
   * committed (or an error the client may retry, when it cannot be).
   */
  deleteOnCommit?(c: Consumer, answer: (err?: ApiError) => void): boolean;
  /** A consumer's delivery/ack state changed (coalesced). */
  consumerState(c: Consumer): void;
  /** An ack asked for a reply: true when the cluster sends it once the ack is replicated. */
  ackReply?(c: Consumer, reply: string): boolean;
  /** The `cluster` block of a consumer's info (undefined: the consumer is not replicated here). */
  consumerCluster?(c: Consumer): Record<string, unknown> | undefined;
  /** The `cluster` block of a stream's info. */
  streamCluster(s: Stream): Record<string, unknown>;
  /** The feed of a mirror or source of `stream` this server runs (its leader), for stream info. */
  feedOf?(stream: string, origin: string): ExternalFeed | undefined;
  /** The `cluster` block of a stream in `/jsz`: the group as this server sees it (every peer but itself). */
  jszCluster?(s: Stream): Record<string, unknown>;
  /**
   * Whether this server announces its interest in the stream's subjects to routes, gateways and leafnodes (its
   * replica leads): a publish then crosses to the leader only, not to every replica. The others listen on this
   * server alone (a local publish reaches its local replica and, through the route, the leader).
   */
  announces?(s: Stream): boolean;
  /**
   * `/jsz`: the consumers of `s` this server holds a replica of, each with a function giving its info (with its
   * `cluster` block). nats-server counts and details these per server.
   */
  hostedConsumers?(s: Stream): ReadonlyMap<string, () => Record<string, unknown>>;
  /** The consumers `s` has in the whole cluster (stream info's `consumer_count`); undefined: not replicated here. */
  consumerCount?(s: Stream): number | undefined;
}

interface SavedConsumer {
  config: ConsumerConfig;
  created: string;
  state?: ConsumerState;
}

/**
 * The JetStream engine of one account on one server: the account's streams, their consumers and the account's
 * `$JS.API` service, all driven through the bus (an internal client bound to the account, so everything it
 * subscribes and publishes stays in the account's subject space). Names (streams, consumers) are unique within
 * the account only; the server holds one engine per JetStream-enabled account (see accounts.ts).
 */
export class JetStream implements ConsumerHost {
  readonly streams = new Map<string, Stream>();
  readonly consumers = new Map<string, Map<string, Consumer>>();
  private readonly captureSids = new Map<string, number[]>();
  /** Per stream: its capture subscriptions stay on this server (true), are announced (false), or the bus decides. */
  private readonly captureLocal = new Map<string, boolean | undefined>();
  private readonly sids: number[] = [];
  private readonly dirty = new Set<Consumer>();
  /** A light timer: on Deno a runtime setTimeout loads Node's timer layer for good (+2-3 MB; light_timers.ts). It
   * does not keep the process alive; stop() flushes what is left. */
  private flushTimer: Timer | undefined;
  readonly apiStats = { total: 0, errors: 0 };
  readonly now: () => number;
  /** Consumers' deadlines run on this clock (`opts.clock`, else the runtime's timers). */
  readonly clock: Clock;
  private stopped = false;
  /**
   * Streams with writes since the last flush, in order (`Stream.flushListed` says which are listed: a Set's add
   * and delete allocate on V8); the lists keep their storage and take turns: no garbage per flush.
   */
  private dirtyList: (Stream | undefined)[] = [];
  private dirtySpare: (Stream | undefined)[] = [];
  private dirtyCount = 0;
  /**
   * PubAcks waiting for their batch's write, three slots each in the first `ackCount`: reply, then either the
   * stored sequence and the stream's name (the common PubAck, written at the flush: publishAck) or the ack's bytes
   * (errors, duplicates, a domain) and "". Two lists that take turns, with a count instead of emptying them
   * (emptying an array gives its storage up, and the next push allocates it again: per sync publish).
   */
  private acks: Array<string | Uint8Array | number> = [];
  private acksSpare: Array<string | Uint8Array | number> | undefined = [];
  private ackCount = 0;
  private flushScheduled = false;
  /** One closure for every scheduled flush (not one per message). */
  private readonly flushTask = () => this.flushWrites();
  /** Streams with `storage: memory` live here whatever the server's store is. */
  readonly memStorage: StorageProvider;

  readonly advisories: Advisories;
  /** The account this engine serves (`$G` when the server has no accounts). */
  readonly account: string;
  /** The account's limits (`accounts.X.jetstream`); unlimited for `$G` without an accounts block. */
  limits: AccountLimits;
  /** Set before `start()` on a server of a JetStream cluster. */
  cluster: EngineCluster | undefined;
  /** In a cluster: the ack subscription of each consumer this server runs (ack_route.ts). */
  readonly ackRoutes: AckRoutes;

  constructor(readonly bus: JsBus, readonly opts: EngineOptions, readonly storage: StorageProvider) {
    this.account = opts.account ?? "$G";
    this.limits = opts.limits ?? UNLIMITED;
    // Consumers' timers (ack waits, pull expiries, heartbeats, replay) are light timers: on Deno a runtime setTimeout
    // loads Node's timer layer for good (+2-3 MB; light_timers.ts), and the server's listeners keep it alive.
    this.clock = opts.clock ?? lightClock(opts.now ? { now: opts.now, after: runtimeClock.after, soon: runtimeClock.soon } : runtimeClock);
    this.now = opts.now ?? (() => this.clock.now());
    this.advisories = new Advisories(bus, this.now, opts.domain);
    this.memStorage = storage.kind === "memory" ? storage : new MemoryStorage();
    this.ackRoutes = new AckRoutes(bus, (c, sseq, m) => this.ackTo(c, sseq, m));
  }

  providerFor(cfg: StreamConfig): StorageProvider {
    return cfg.storage === "memory" ? this.memStorage : this.storage;
  }

  /**
   * Opens the stored streams `names` and their consumers (not in a cluster: its meta group opens them). Their
   * configs were validated before Petrel stored them: a structural check (stored_config.ts) keeps zod unloaded on a
   * restart that only reads, and a config that fails it stops start-up naming the stream.
   */
  private recover(names: string[]): void {
    const malformed = (stream: string, what: string, why: string) =>
      new Error(`JetStream: the stored ${what} of stream '${stream}' (account ${this.account}) is malformed: ${why}`);
    const parse = (raw: string, stream: string, what: string) => {
      try {
        return JSON.parse(raw) as Record<string, unknown>;
      } catch (err) {
        throw malformed(stream, what, `invalid JSON (${(err as Error).message})`);
      }
    };
    for (const name of names) {
      const raw = this.storage.getMeta(name, "config");
      if (!raw) continue;
      const saved = parse(raw, name, "config");
      const checked = checkStoredStreamConfig(saved.config);
      if ("error" in checked) throw malformed(name, "config", checked.error);
      if (checked.config.name !== name) throw malformed(name, "config", `it names stream '${checked.config.name}'`);
      this.openStream(checked.config, String(saved.created));
    }
    // (In a cluster a consumer's state lives in its own Raft group, cluster/consumer_groups.ts, which starts it
    // where it runs; the streams the meta group opens must not get copies from the store.)
    for (const [name] of this.streams) {
      for (const [key, raw] of this.storage.listMeta(name, "c.")) {
        const saved = parse(raw, name, `consumer ${key.slice(2)}`) as unknown as SavedConsumer;
        const checked = checkStoredConsumerConfig(saved.config);
        if ("error" in checked) throw malformed(name, `consumer ${key.slice(2)}`, checked.error);
        this.attachConsumer(name, checked.config, saved.created, saved.state);
      }
    }
  }

  /** Loads persisted streams and consumers, then starts serving the API. */
  start(): void {
    // In a cluster the meta group's log says which streams exist; they are opened as it is applied.
    const stored = this.cluster ? [] : this.storage.streamNames();
    // Recovery needs no zod (stored_config.ts): only an API request that carries a config loads the schemas.
    if (stored.length > 0) this.recover(stored);
    this.wireSources();
    this.bus.onSubscribe?.((subject) => {
      if (this.stopped) return;
      for (const m of this.consumers.values()) {
        for (const c of m.values()) {
          const d = c.cfg.deliver_subject;
          if (d && (subject === undefined || d === subject)) c.kick();
        }
      }
    });
    this.sids.push(this.bus.subscribe("$JS.API.>", (m) => this.onApi(m)));
    const domain = this.opts.domain;
    if (domain) {
      // Clients that name the domain use $JS.<domain>.API.>: the same API under another prefix.
      // Announced across leafnode links (not local): a leaf in another domain reaches this API by its name,
      // while `$JS.API` stays each domain's own.
      const prefix = `$JS.${domain}.API.`;
      this.sids.push(this.bus.subscribe(`${prefix}>`, (m) => {
        this.onApi({ ...m, subject: "$JS.API." + m.subject.slice(prefix.length) });
      }, { local: false }));
    }
    // In a cluster each consumer's leader subscribes to its own acks (routeAcks).
    if (!this.cluster) this.sids.push(this.bus.subscribe("$JS.ACK.>", (m) => this.onAck(m)));
    // With a domain, consumers may deliver to another domain's mirror feed: its flow control answers come back
    // over the leafnode link.
    this.sids.push(this.bus.subscribe("$JS.FC.>", (m) => {
      const t = m.subject.split(".");
      this.consumers.get(t[2])?.get(t[3])?.flowControlReply(m.subject);
    }, domain ? { local: false } : undefined));
  }

  /** An API request brought here another way than the bus (a stream's old leader passed it on). */
  apiRequest(m: BusMsg): void {
    this.onApi(m);
  }

  /**
   * API requests that came while the config schemas were loading (the first request that carries a config loads
   * them): answered in their order once loaded, and any that come meanwhile queue behind them, read-only ones too.
   */
  #apiWaiting: BusMsg[] | undefined;

  private onApi(m: BusMsg): void {
    // A request behind a held one waits too: answers keep the requests' order.
    if (this.#apiWaiting !== undefined || (!jsSchemasLoaded() && needsSchemas(m))) return this.#holdApi(m);
    this.serveApi(m);
  }

  #holdApi(m: BusMsg): void {
    // Held past this call: copies, the bytes may be a reused read buffer's.
    const held: BusMsg = { ...m, payload: m.payload.slice(), headers: m.headers?.slice() };
    if (this.#apiWaiting !== undefined) {
      this.#apiWaiting.push(held);
      return;
    }
    const waiting = this.#apiWaiting = [held];
    const drain = () => {
      // Requests a served one brings about (synchronously) queue behind the rest.
      for (let next = waiting.shift(); next !== undefined; next = waiting.shift()) {
        if (!this.stopped) this.serveApi(next);
      }
      this.#apiWaiting = undefined;
    };
    // A failed load leaves jsSchemas() throwing: serveApi answers each request with the generic failure.
    loadJsSchemas().then(drain, drain);
  }

  private serveApi(m: BusMsg): void {
    // api.total counts answered API requests, after the answer (see api.ts respond), as nats-server does: pull
    // requests, Direct Gets and subjects nobody serves are not API requests there.
    try {
      if (this.cluster?.api(m)) return;
      handleApi(this, m);
    } catch (err) {
      // A bug must not take the server down; answer like nats-server's generic failure.
      this.apiStats.errors++;
      this.apiStats.total++;
      if (m.reply) {
        const e: ApiError = { code: 500, err_code: 10000 + 0, description: String(err) };
        this.bus.publish(m.reply, enc.encode(JSON.stringify({ error: e })));
      }
    }
  }

  private onAck(m: BusMsg): void {
    const t = m.subject.split(".");
    let stream: string, consumer: string, sseq: number;
    if (t.length === 9) {
      stream = t[2];
      consumer = t[3];
      sseq = Number(t[5]);
    } else if (t.length >= 11) {
      stream = t[4];
      consumer = t[5];
      sseq = Number(t[7]);
    } else return;
    const c = this.consumers.get(stream)?.get(consumer);
    if (!c || !Number.isFinite(sseq)) return;
    this.ackTo(c, sseq, m);
  }

  private ackTo(c: Consumer, sseq: number, m: BusMsg): void {
    try {
      c.processAck(sseq, m.payload, m.reply);
    } catch {
      // A failing ack (storage error while removing a work-queue message) must not take the server down.
    }
  }

  /**
   * In a cluster: consumer `c` runs on this server from now on (its acks are subscribed to before it delivers),
   * or no longer does. A single server hears every consumer's acks on one `$JS.ACK.>` subscription.
   */
  routeAcks(c: Consumer, on: boolean): void {
    if (this.cluster && !this.stopped) this.ackRoutes.set(c, on);
  }

  // ---- streams ----
  private openStream(cfg: StreamConfig, created: string): Stream {
    const s = new Stream(cfg, created, this.providerFor(cfg), this.now, (st) => this.markDirty(st));
    this.streams.set(cfg.name, s);
    this.consumers.set(cfg.name, new Map());
    this.capture(s);
    return s;
  }

  /** `republish: {src, dest, headers_only}`: every stored message matching src also goes to dest. */
  private wireRepublish(s: Stream): void {
    const rp = s.cfg.republish;
    if (!rp) {
      s.republish = undefined;
      return;
    }
    const src = rp.src || ">";
    s.republish = (m, lastSeq) => {
      const dest = mapSubject(m.subject, src, rp.dest);
      if (dest === undefined) return;
      const extra: Array<[string, string]> = [
        ["Nats-Stream", s.name],
        ["Nats-Subject", m.subject],
        ["Nats-Sequence", String(m.seq)],
        ["Nats-Last-Sequence", String(lastSeq)],
      ];
      if (rp.headers_only) extra.push(["Nats-Msg-Size", String(m.data.length)]);
      const h = appendHeaderLines(m.headers, extra);
      this.bus.publish(dest, rp.headers_only ? new Uint8Array(0) : m.data, { headers: h });
    };
  }

  private capture(s: Stream): void {
    this.wireRepublish(s);
    for (const sid of this.captureSids.get(s.name) ?? []) this.bus.unsubscribe(sid);
    const sids: number[] = [];
    const local = this.captureLocalFor(s);
    // A single server's capture stores (copies) the bytes during the call and keeps only the reply (a string): it
    // borrows the message (no copy of the payload, no object per publish). A cluster's proposal keeps the message.
    const borrow = this.cluster === undefined;
    const opts = local === undefined ? { borrow } : { local, borrow };
    for (const subj of s.cfg.subjects) {
      sids.push(this.bus.subscribe(subj, (m) => this.onStreamMsg(s, m, borrow), opts));
    }
    this.captureSids.set(s.name, sids);
    this.captureLocal.set(s.name, local);
  }

  private captureLocalFor(s: Stream): boolean | undefined {
    const c = this.cluster;
    return c?.announces === undefined ? undefined : !c.announces(s);
  }

  /**
   * Replicated streams: a stream whose group has lost its leader stops taking its subjects (a publish finds no
   * responders, as with nats-server, where only the stream's leader listens) and takes them again with a leader.
   */
  setCapturing(s: Stream, on: boolean): void {
    const sids = this.captureSids.get(s.name);
    if (on) {
      // Also when the stream's leadership moved to or from this server: only the leader's interest is announced.
      if (!sids || sids.length === 0 || this.captureLocal.get(s.name) !== this.captureLocalFor(s)) this.capture(s);
      return;
    }
    for (const sid of sids ?? []) this.bus.unsubscribe(sid);
    this.captureSids.set(s.name, []);
  }

  /** `borrowed`: `m` and its bytes are valid during this call only (see capture). */
  private onStreamMsg(s: Stream, m: BusMsg, borrowed: boolean): void {
    if (this.cluster) return this.cluster.publish(s, borrowed ? ownedMsg(m) : m);
    let res: number | PubAck | ApiError;
    const headers = m.headers && m.headers.length > 0 ? m.headers : undefined;
    try {
      res = this.overAccountLimit(s, m.subject, headers, m.payload) ??
        s.publishSeq(m.subject, headers, m.payload);
    } catch (err) {
      res = storeFailed(err);
    }
    if (!m.reply || s.cfg.no_ack) return;
    // PubAcks go out after the batch they belong to was written (see flushWrites).
    this.acks[this.ackCount++] = m.reply;
    if (typeof res === "number" && !this.opts.domain) {
      this.acks[this.ackCount++] = res;
      this.acks[this.ackCount++] = s.name;
    } else {
      this.acks[this.ackCount++] = pubAckBytes(typeof res === "number" ? { stream: s.name, seq: res } : res, s.name, this.opts.domain);
      this.acks[this.ackCount++] = NO_ACK;
    }
    this.scheduleFlush();
  }

  /** The account's byte limit for the stream's storage type, checked before the message is stored. */
  private overAccountLimit(s: Stream, subject: string, hdr: Uint8Array | undefined, data: Uint8Array): ApiError | undefined {
    const memory = s.cfg.storage === "memory";
    if ((memory ? this.limits.max_memory : this.limits.max_storage) < 0) return undefined;
    const size = storedSize(subject.length, hdr ? hdr.length : 0, data.length, !memory);
    let used = 0;
    for (const st of this.streams.values()) if ((st.cfg.storage === "memory") === memory) used += st.storedBytes;
    return checkStoreLimit(this.limits, used, size, memory);
  }

  // ---- account usage and limits ----
  /** Each stream's config and stored bytes, for the limit checks and account info. */
  usage(): StreamUsage[] {
    const out: StreamUsage[] = [];
    for (const s of this.streams.values()) out.push({ cfg: s.cfg, bytes: s.storedBytes });
    return out;
  }

  /** Bytes reserved by `max_bytes` on one storage type, leaving out the stream named `except`. */
  reserved(memory: boolean, except?: string): number {
    return reservedBytes(this.usage(), memory, except);
  }

  consumerCount(): number {
    let n = 0;
    for (const m of this.consumers.values()) n += m.size;
    return n;
  }

  /**
   * A stream create or update against the account's limits and the server's `max_*_store`: nats-server counts
   * the bytes every stream's `max_bytes` reserves, on this account and (for the server) on all accounts.
   */
  checkStreamLimits(cfg: StreamConfig, existing: boolean): ApiError | undefined {
    const err = checkStreamLimits(this.limits, this.usage(), this.streams.size, cfg, existing);
    if (err) return err;
    const memory = cfg.storage === "memory";
    const cap = memory ? this.opts.max_memory_store : this.opts.max_file_store;
    if (cap === undefined || cap <= 0 || cfg.max_bytes <= 0) return undefined;
    const others = this.opts.reservedElsewhere?.(memory) ?? 0;
    if (others + this.reserved(memory, cfg.name) + cfg.max_bytes > cap) {
      return memory ? Errors.memoryResourcesExceeded() : Errors.storageResourcesExceeded();
    }
    return undefined;
  }

  private markDirty(s: Stream): void {
    if (!s.flushListed) {
      s.flushListed = true;
      this.dirtyList[this.dirtyCount++] = s;
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(this.flushTask);
  }

  /** One write per stream for everything stored since the last flush, then the PubAcks. */
  flushWrites(): void {
    this.flushScheduled = false;
    let failure: string | undefined;
    const dirty = this.dirtyList;
    const nd = this.dirtyCount;
    if (nd > 0) {
      // A stream marked while these are written goes on the other list (the next flush).
      this.dirtyList = this.dirtySpare;
      this.dirtySpare = dirty;
      this.dirtyCount = 0;
      for (let i = 0; i < nd; i++) {
        const s = dirty[i] as Stream;
        dirty[i] = undefined;
        s.flushListed = false;
        try {
          s.flush();
        } catch (err) {
          failure = errorText(err);
        }
      }
    }
    const acks = this.acks;
    const n = this.ackCount;
    if (n === 0) return;
    // A PubAck's delivery may store and queue the next batch: into the other list (a new one if a flush runs
    // inside this one).
    this.acks = this.acksSpare ?? [];
    this.acksSpare = undefined;
    this.ackCount = 0;
    // Nothing is acknowledged that did not reach the OS.
    const failed = failure === undefined ? undefined : failedAckBytes(failure);
    for (let i = 0; i < n; i += 3) {
      const reply = acks[i] as string;
      const ack = acks[i + 1];
      const stream = acks[i + 2] as string;
      acks[i] = acks[i + 1] = acks[i + 2] = NO_ACK;
      if (failed !== undefined) this.bus.publish(reply, failed);
      else if (typeof ack === "number") publishAck(this.bus, reply, stream, ack);
      else this.bus.publish(reply, ack as Uint8Array);
    }
    this.acksSpare = acks;
  }

  /** Streams overlapping `subjects`, other than `except`. */
  overlapping(subjects: string[], except?: string): boolean {
    for (const [name, s] of this.streams) {
      if (name === except) continue;
      for (const a of s.cfg.subjects) for (const b of subjects) if (subjectsIntersect(a, b)) return true;
    }
    return false;
  }

  createStream(cfg: StreamConfig, created = new Date(this.now()).toISOString()): Stream {
    this.providerFor(cfg).putMeta(cfg.name, "config", JSON.stringify({ config: cfg, created }));
    const s = this.openStream(cfg, created);
    this.wireSources();
    // In a cluster every replica runs this; the right leader announces the change once (cluster/controller.ts).
    if (!this.cluster) this.advisories.streamAction(cfg.name, "create");
    return s;
  }

  updateStream(s: Stream, cfg: StreamConfig): void {
    s.updateConfig(cfg);
    this.providerFor(cfg).putMeta(cfg.name, "config", JSON.stringify({ config: cfg, created: s.created }));
    this.capture(s);
    this.wireSources();
    if (!this.cluster) this.advisories.streamAction(cfg.name, "update");
  }

  deleteStream(s: Stream): void {
    for (const c of this.consumers.get(s.name)?.values() ?? []) c.close(true);
    this.consumers.delete(s.name);
    for (const sid of this.captureSids.get(s.name) ?? []) this.bus.unsubscribe(sid);
    this.captureSids.delete(s.name);
    this.captureLocal.delete(s.name);
    this.streams.delete(s.name);
    s.close();
    this.providerFor(s.cfg).dropStream(s.name);
    this.wireSources();
    if (!this.cluster) this.advisories.streamAction(s.name, "delete");
  }

  /** Mirrors and sources between streams of this server: downstream hooks plus a catch-up copy. */
  private wireSources(): void {
    // Replicated streams: their leaders feed mirrors and sources through the API (cluster/mirror_replica.ts).
    if (this.cluster) return;
    for (const s of this.streams.values()) s.downstream.clear();
    const wanted = new Set<string>();
    for (const target of this.streams.values()) {
      const cfg = target.cfg;
      const origins = cfg.mirror ? [cfg.mirror] : (cfg.sources ?? []);
      for (const src of origins) {
        // An external source lives behind another API (another account or domain): fed through it.
        if (src.external?.api) {
          wanted.add(this.wireExternal(target, src, !!cfg.mirror));
          continue;
        }
        const origin = this.streams.get(src.name);
        if (!origin || origin === target) continue;
        const mirror = !!cfg.mirror;
        const filter = src.filter_subject;
        const feed = (m: StoredMsg) => {
          if (filter && !subjectsIntersect(filter, m.subject)) return;
          if (mirror) target.storeMirrored(m);
          else {
            const hdr = appendHeaderLines(m.headers, [["Nats-Stream-Source", `${origin.name} ${m.seq}`]]);
            target.publish(m.subject, hdr, m.data);
          }
        };
        origin.downstream.add(feed);
        // Catch up on what the origin holds that the target has not seen.
        const key = `src.${origin.name}`;
        const seen = mirror
          ? target.lastSequence
          : Math.max(Number(this.providerFor(cfg).getMeta(cfg.name, key) ?? 0), lastSourced(target, origin.name));
        let from = Math.max(seen + 1, src.opt_start_seq ?? 1);
        for (let seq = origin.nextMatching(from, []); seq !== undefined; seq = origin.nextMatching(from, [])) {
          const m = origin.load(seq);
          if (m) feed(m);
          from = seq + 1;
        }
        if (!mirror) this.providerFor(cfg).putMeta(cfg.name, key, String(origin.lastSequence));
      }
    }
    for (const [key, f] of this.externalFeeds) {
      if (wanted.has(key)) continue;
      f.feed.close();
      this.externalFeeds.delete(key);
    }
  }

  /** Feeds of external mirrors and sources, by target stream, origin config and kind. */
  private readonly externalFeeds = new Map<string, { feed: ExternalFeed; target: Stream }>();

  /** Starts (or keeps) the feed of `target` from an external origin; returns its key. */
  private wireExternal(target: Stream, src: ExternalOrigin, mirror: boolean): string {
    const key = `${target.name}\u0000${mirror ? "M" : "S"}\u0000${JSON.stringify(src)}`;
    const existing = this.externalFeeds.get(key);
    if (existing?.target === target) return key;
    existing?.feed.close();
    const feed = new ExternalFeed({
      bus: this.bus,
      clock: this.clock,
      resumeAfter: (iname) => (mirror ? target.lastSequence : lastSourced(target, iname)),
      store: (m) => {
        if (this.stopped || this.streams.get(target.name) !== target) return;
        if (mirror) target.storeMirrored(m);
        else target.publish(m.subject, m.headers, m.data);
      },
    }, src, mirror);
    this.externalFeeds.set(key, { feed, target });
    feed.start();
    return key;
  }

  /** The feed of an external mirror or source of `stream`, for stream info (`lag`, `active`). */
  externalFeed(stream: string, origin: string): ExternalFeed | undefined {
    if (this.cluster) return this.cluster.feedOf?.(stream, origin);
    for (const [key, f] of this.externalFeeds) {
      if (key.startsWith(stream + "\u0000") && f.feed.origin.name === origin) return f.feed;
    }
    return undefined;
  }

  // ---- consumers ----
  attachConsumer(stream: string, cfg: ConsumerConfig, created: string, state?: ConsumerState): Consumer | undefined {
    const s = this.streams.get(stream);
    if (!s) return undefined;
    const name = cfg.name ?? cfg.durable_name ?? "";
    const c = new Consumer(name, s, cfg, created, this, state);
    this.consumers.get(stream)?.set(name, c);
    s.listeners.add(c);
    return c;
  }

  createConsumer(s: Stream, cfg: ConsumerConfig): Consumer | ApiError {
    const err = checkConsumerConfig(cfg, s.cfg, this.cluster !== undefined);
    if (err) return err;
    const map = this.consumers.get(s.name) ?? new Map<string, Consumer>();
    let name = cfg.name ?? cfg.durable_name;
    if (!name) {
      name = randomName();
      cfg.name = name;
    } else cfg.name = name;
    const existing = map.get(name);
    if (existing) {
      if (sameConsumerConfig(existing.cfg, cfg)) return existing;
      const upd = updatableChange(existing.cfg, cfg);
      if (upd) return upd;
      // Replicated: changed when the update is applied from the stream's log.
      if (this.cluster?.consumerUpdate?.(existing, cfg) === true) return existing;
      existing.cfg = cfg;
      this.saveConsumer(existing);
      this.cluster?.consumerChanged(existing);
      return existing;
    }
    const limitErr = checkConsumerLimit(this.limits, s.cfg.max_consumers, map.size);
    if (limitErr) return limitErr;
    if (s.cfg.retention === "workqueue") {
      const mine = consumerFilters(cfg);
      for (const other of map.values()) {
        const theirs = other.filters();
        if (mine.length === 0 || theirs.length === 0) return Errors.consumerWQMultipleUnfiltered();
        for (const a of mine) for (const b of theirs) if (subjectsIntersect(a, b)) return Errors.consumerWQNotUnique();
      }
    }
    const c = this.attachConsumer(s.name, cfg, new Date(this.now()).toISOString());
    if (!c) return Errors.streamNotFound();
    this.saveConsumer(c);
    this.cluster?.consumerChanged(c);
    this.advisories.consumerAction(s.name, c.name, "create");
    return c;
  }

  deleteConsumer(c: Consumer): void {
    c.close(true);
    this.ackRoutes.set(c, false);
    this.consumers.get(c.stream.name)?.delete(c.name);
    c.stream.listeners.delete(c);
    this.dirty.delete(c);
    this.providerFor(c.stream.cfg).deleteMeta(c.stream.name, `c.${c.name}`);
    this.cluster?.consumerDeleted(c);
    this.advisories.consumerAction(c.stream.name, c.name, "delete");
    // Interest retention: messages only this consumer held may go now.
    if (c.stream.cfg.retention === "interest") {
      const held: Array<[number, string]> = [];
      c.stream.index.forEach(0, (seq, subject) => void held.push([seq, subject]));
      for (const [seq, subject] of held) c.stream.checkInterest(seq, subject);
    }
  }

  private persisted(c: Consumer): boolean {
    return !c.cfg.mem_storage && c.stream.cfg.storage !== "memory" && this.storage.kind !== "memory";
  }

  private saveConsumer(c: Consumer): void {
    if (!this.persisted(c) || this.cluster) return;
    const rec: SavedConsumer = { config: c.cfg, created: c.created, state: c.state() };
    this.providerFor(c.stream.cfg).putMeta(c.stream.name, `c.${c.name}`, JSON.stringify(rec));
  }

  // ConsumerHost
  persist(c: Consumer): void {
    if ((!this.persisted(c) && !this.cluster) || this.stopped) return;
    this.dirty.add(c);
    if (this.flushTimer === undefined) {
      this.flushTimer = lightTimeout(25, () => this.flushConsumers());
    }
  }
  remove(c: Consumer): void {
    this.deleteConsumer(c);
  }
  takesOverAcks(): boolean {
    return this.cluster !== undefined;
  }
  holdAckReply(c: Consumer, reply: string): boolean {
    return this.cluster?.ackReply?.(c, reply) ?? false;
  }

  /** Saves (and, in a cluster, proposes) every consumer state changed since the last flush. */
  flushConsumers(): void {
    this.flushTimer = undefined;
    for (const c of this.dirty) {
      this.saveConsumer(c);
      this.cluster?.consumerState(c);
    }
    this.dirty.clear();
  }

  /** Flushes state and stops every timer; the storage is closed by whoever opened it. */
  stop(): void {
    if (this.stopped) return;
    this.flushTimer?.cancel();
    this.flushWrites();
    this.flushConsumers();
    this.stopped = true;
    for (const f of this.externalFeeds.values()) f.feed.close();
    this.externalFeeds.clear();
    for (const sid of this.sids) this.bus.unsubscribe(sid);
    this.ackRoutes.clear();
    for (const sids of this.captureSids.values()) for (const sid of sids) this.bus.unsubscribe(sid);
    for (const m of this.consumers.values()) for (const c of m.values()) c.close(false);
    for (const s of this.streams.values()) s.close();
    this.storage.sync();
  }
}

/** A copy of a borrowed message that may be kept (bytes of its own). */
function ownedMsg(m: BusMsg): BusMsg {
  const out: BusMsg = { subject: m.subject, payload: m.payload.slice(), local: m.local, viaRoute: m.viaRoute };
  if (m.reply !== undefined) out.reply = m.reply;
  if (m.headers !== undefined) out.headers = m.headers.slice();
  return out;
}

/** What a sent PubAck's slots hold until the list is reused. */
const NO_ACK = "";
const ackPrefixes = new Map<string, Uint8Array>();
/** Per stream: a PubAck's bytes by the sequence's digit count, rewritten in place for each ack (publishAck). */
const ackBodies = new Map<string, Array<Uint8Array | undefined>>();
/** A publishAck is delivering the shared bytes: one nested inside it (a flush inside a delivery) gets its own. */
let ackBodyBusy = false;

/**
 * Publishes the PubAck `{"stream":...,"seq":N}` to `reply` from bytes kept per stream and digit count, the digits
 * rewritten for each ack: no allocation per sync publish (each one counted toward the young collections that set
 * the tail, bench/RESULTS.md `tail`). Safe because the router copies a payload during the publish call (RoutedMsg's
 * contract: its byte views live for the call); a nested call while the shared bytes are out gets fresh ones.
 */
export function publishAck(bus: Pick<JsBus, "publish">, reply: string, stream: string, seq: number): void {
  if (ackBodyBusy) {
    bus.publish(reply, pubAckBytes({ stream, seq }, stream));
    return;
  }
  const digits = digitCount(seq);
  const body = ackBodies.get(stream)?.[digits] ?? newAckBody(stream, digits);
  writeInt(body, body.length - 1 - digits, seq);
  ackBodyBusy = true;
  try {
    bus.publish(reply, body);
  } finally {
    ackBodyBusy = false;
  }
}

/** What a thrown value says (a storage failure's message). */
function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A storage failure (disk full, I/O error) fails this publish; the server keeps serving (apart: see newAckBody). */
function storeFailed(err: unknown): ApiError {
  return Errors.streamStoreFailed(errorText(err));
}

/** The reply to each publish of a batch whose write failed: nothing is acknowledged that did not reach the OS. */
function failedAckBytes(failure: string): Uint8Array {
  return enc.encode(JSON.stringify({ error: Errors.streamStoreFailed(failure) }));
}

/**
 * The kept bytes of `stream`'s PubAck for sequences of `digits` digits, made on first use (publishAck): apart from
 * publishAck, which runs per sync publish (the optimizing compilers compile all of a function's code,
 * bench/RESULTS.md `hotcode`).
 */
function newAckBody(stream: string, digits: number): Uint8Array {
  let bodies = ackBodies.get(stream);
  if (bodies === undefined) {
    if (ackBodies.size > 10_000) ackBodies.clear();
    bodies = [];
    ackBodies.set(stream, bodies);
  }
  const prefix = enc.encode(`{"stream":${JSON.stringify(stream)},"seq":`);
  const body = new Uint8Array(prefix.length + digits + 1);
  body.set(prefix, 0);
  body[body.length - 1] = 125; // }
  bodies[digits] = body;
  return body;
}

/** PubAck JSON bytes. The common success case reuses a cached `{"stream":"S","seq":` prefix. */
export function pubAckBytes(res: PubAck | ApiError, stream: string, domain?: string): Uint8Array {
  if ("err_code" in res) return enc.encode(JSON.stringify({ error: res, stream, seq: 0 }));
  if (res.duplicate || domain) {
    if (domain) res.domain = domain;
    return enc.encode(JSON.stringify(res));
  }
  let prefix = ackPrefixes.get(stream);
  if (!prefix) {
    prefix = enc.encode(`{"stream":${JSON.stringify(stream)},"seq":`);
    if (ackPrefixes.size > 10_000) ackPrefixes.clear();
    ackPrefixes.set(stream, prefix);
  }
  // The sequence's digits are written straight into the bytes: `String(seq)` went through V8's number-to-string
  // cache, which kept every PubAck's string alive past two scavenges: on Deno with a small young generation
  // nine tenths of what js-r1-async promoted to the old generation (~2 MB/s of garbage for mark-compacts).
  const seq = res.seq;
  const digits = digitCount(seq);
  // Slab memory (small_bytes.ts): the bytes live until the PubAck is written out.
  const out = smallBytes(prefix.length + digits + 1);
  out.set(prefix, 0);
  const o = writeInt(out, prefix.length, seq);
  out[o] = 125; // }
  return out;
}

/** Maps a subject matched by `src` onto `dest`, filling dest's wildcards with the captured tokens in order. */
export function mapSubject(subject: string, src: string, dest: string): string | undefined {
  if (!subjectMatches(subject, src)) return undefined;
  const st = subject.split(".");
  const pt = src.split(".");
  const captured: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < pt.length; i++) {
    if (pt[i] === "*") captured.push(st[i]);
    else if (pt[i] === ">") {
      rest = st.slice(i);
      break;
    }
  }
  const out: string[] = [];
  let k = 0;
  for (const t of dest.split(".")) {
    if (t === "*") out.push(captured[k++] ?? "*");
    else if (t === ">") out.push(...(rest.length > 0 ? rest : [">"]));
    else out.push(t);
  }
  return out.join(".");
}

/** The origin sequence of the newest message `target` got from `origin` (its Nats-Stream-Source header). */
function lastSourced(target: Stream, origin: string): number {
  const prefix = origin + " ";
  let found = 0;
  let n = 0;
  target.index.forEachBack(target.lastSequence, (seq) => {
    if (n++ >= 10_000) return false;
    const m = target.load(seq);
    const v = m?.headers ? findHeader(m.headers, "Nats-Stream-Source") : undefined;
    if (v && v.startsWith(prefix)) {
      found = Number(v.slice(prefix.length).split(" ")[0]) || 0;
      return false;
    }
  });
  return found;
}

function randomName(): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const b = new Uint8Array(8); // nats-server 2.9 names ephemerals with 8 characters
  crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += alphabet[x % alphabet.length];
  return s;
}

function sameConsumerConfig(a: ConsumerConfig, b: ConsumerConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** nats-server only lets some consumer fields change on update. */
function updatableChange(old: ConsumerConfig, cfg: ConsumerConfig): ApiError | undefined {
  if (old.deliver_policy !== cfg.deliver_policy) return Errors.consumerCreate("deliver policy can not be updated");
  if ((old.opt_start_seq ?? 0) !== (cfg.opt_start_seq ?? 0)) {
    return Errors.consumerCreate("start sequence can not be updated");
  }
  if (old.ack_policy !== cfg.ack_policy) return Errors.consumerCreate("ack policy can not be updated");
  if (old.replay_policy !== cfg.replay_policy) return Errors.consumerCreate("replay policy can not be updated");
  if (!!old.deliver_subject !== !!cfg.deliver_subject) {
    return Errors.consumerCreate("can not update push consumer to pull based");
  }
  return undefined;
}

/** Wires JetStream onto a bus (the server's internal client) over an opened storage and starts serving. */
export function startJetStream(bus: JsBus, opts: EngineOptions, storage: StorageProvider): JetStream {
  const js = new JetStream(bus, opts, storage);
  js.start();
  return js;
}
