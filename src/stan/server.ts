/**
 * NATS Streaming (STAN) served by Petrel: the protocol's request subjects (discover, publish, subscribe,
 * unsubscribe, subscription close, close, ping, acks) answered through one internal client of an account, over
 * channels stored in Petrel's stream engine (channel.ts). It never touches a sublist: everything it hears and
 * says goes through the account's router like any client's messages.
 */
import { isValidPublishSubject, subjectMatches } from "../subjects/subject.ts";
import type { Clock, Timer } from "../runtime/clock.ts";
import type { StorageProvider, StoredMsg } from "../jetstream/store/types.ts";
import { jsSchemas } from "../jetstream/schemas_on_demand.ts";
import { Stream } from "../jetstream/stream.ts";
import { findHeader } from "../protocol/headers.ts";
import type { ChannelLimits, StreamingOptions } from "../config/streaming.ts";
import { Channel, type ChannelHost, type SavedGroup, type Sub } from "./channel.ts";
import { decode, encode, StartPosition } from "./proto.ts";
import { StanErrors } from "./errors.ts";
import { decodeStanEntry, encodeStanEntry, type StanEntry } from "./replication.ts";
import type { Entry } from "../raft/types.ts";

/** The internal client STAN speaks through (an account's `InternalClient`). */
export interface StanBus {
  subscribe(subject: string, handler: (m: { subject: string; reply?: string; payload: Uint8Array }) => void): number;
  publish(subject: string, payload: Uint8Array, opts?: { reply?: string; headers?: Uint8Array }): number;
  close(): void;
}

export interface StanClient {
  id: string;
  hbInbox: string;
  connID: string;
  /** Number in the heartbeat reply subject. */
  num: number;
  subs: Set<Sub>;
  hbTimer: Timer | undefined;
  hbOutstanding: boolean;
  hbMisses: number;
}

const enc = new TextEncoder();
const CLIENT_ID = /^[a-zA-Z0-9_-]+$/;
/** Where the server's own records live in the store: not a valid subject, so never a channel's name. */
const SERVER_RECORD = "stan server";
/** How long a connect with a known client ID waits for the known client to answer a heartbeat. */
const DUP_CHECK_MS = 500;
const DEFAULT_PING_INTERVAL_S = 5;
const DEFAULT_PING_MAX_OUT = 3;

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function randomKey(): string {
  const b = new Uint8Array(11);
  crypto.getRandomValues(b);
  return hex(b).toUpperCase();
}

/** Clustered mode: how the leader hands an entry to the STAN cluster's Raft log. */
export interface StanReplication {
  /** Proposes an entry: its log index, or 0 when this node cannot (it is not the leader). */
  propose(data: Uint8Array): number;
  /** The entries this node applied after its last snapshot, in log order. */
  applied(): readonly Entry[];
  /** The last snapshot of the log (what `applied()` follows), if any. */
  snapshot(): Uint8Array | undefined;
  /** Replace the log through `index` with a snapshot of the state there. */
  compact(index: number, data: Uint8Array): void;
  /** Compact after this many applied entries (0: never). */
  readonly compactEvery: number;
}

export interface StanServerDeps {
  bus: StanBus;
  storage: StorageProvider;
  clock: Clock;
  log?: (msg: string) => void;
  /** Set in clustered mode: the state lives in the Raft log, applied through `applyEntry`. */
  replication?: StanReplication;
}

/** In clustered mode the request subjects are the same on every node (clients keep them across a fail-over). */
function clusterKey(clusterID: string): string {
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  for (let i = 0; i < clusterID.length; i++) {
    h1 = Math.imul(h1 ^ clusterID.charCodeAt(i), 16777619) >>> 0;
    h2 = Math.imul(h2 ^ clusterID.charCodeAt(i), 2246822519) >>> 0;
  }
  return (h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0")).toUpperCase();
}

/** Channels are JetStream streams: whoever builds one awaits `loadJsSchemas()` first (schemas_on_demand.ts). */
export class StanServer {
  readonly channels = new Map<string, Channel>();
  /** Messages and payload bytes published into channels and delivered to subscribers. */
  readonly stats = { in_msgs: 0, in_bytes: 0, out_msgs: 0, out_bytes: 0 };
  /** ms since the epoch. */
  readonly startTime: number;
  readonly serverId: string;
  readonly clients = new Map<string, StanClient>();
  readonly #byConn = new Map<string, StanClient>();
  readonly #byNum = new Map<number, StanClient>();
  readonly #byAckInbox = new Map<string, { client: StanClient; sub: Sub; channel: Channel }>();
  /** Client IDs whose duplicate check is running. */
  readonly #checking = new Set<string>();
  readonly #dupChecks = new Map<string, () => void>();
  /** Channels written since the last flush, and the PubAcks waiting for it (reply, bytes, ...). */
  readonly #written = new Set<Channel>();
  #acks: Array<string | Uint8Array> = [];
  #flushQueued = false;
  /** Channels without subscriptions waiting out max_inactivity. */
  readonly #idle = new Map<Channel, Timer>();
  #nextNum = 1;
  #nextAck = 1;
  #stopped = false;
  /** Whether this node serves the protocol: always standalone; in clustered mode the leader, once caught up. */
  #active: boolean;
  /** Time of the publish being applied (clustered mode: from the entry). */
  #applyTs: number | undefined;
  readonly #replication: StanReplication | undefined;
  /**
   * Marks the entries this incarnation applied first, as the leader (`origin`): they are not applied twice.
   * Renewed when the state is rebuilt, so that no earlier entry of ours counts as held any more.
   */
  #origin: string;
  /** Entries applied since the last snapshot. */
  #sinceSnapshot = 0;
  /** The log index of this node's last proposal: until it is applied, the leader holds changes ahead of its log. */
  #lastProposed = 0;
  readonly #bus: StanBus;
  readonly #storage: StorageProvider;
  readonly clock: Clock;
  readonly #host: ChannelHost;
  readonly #logFn: ((msg: string) => void) | undefined;
  readonly subjects: {
    discover: string;
    pub: string;
    sub: string;
    unsub: string;
    subClose: string;
    close: string;
    ping: string;
    ack: string;
    hb: string;
  };

  constructor(readonly opts: StreamingOptions, deps: StanServerDeps) {
    this.#bus = deps.bus;
    this.#storage = deps.storage;
    this.clock = deps.clock;
    this.#logFn = deps.log;
    this.startTime = deps.clock.now();
    this.serverId = randomKey();
    this.#replication = deps.replication;
    this.#active = deps.replication === undefined;
    this.#origin = this.serverId;
    this.#host = {
      clock: deps.clock,
      send: (sub, m, redelivered, count) => this.#send(sub, m, redelivered, count),
      applied: (ch, e) => this.#record({ op: "ch", origin: this.#origin, ch: ch.name, e }),
    };
    // The request subjects survive a restart of a stored server: connected clients keep using them.
    const info = this.#storage.getMeta(SERVER_RECORD, "info");
    let key = opts.cluster ? clusterKey(opts.cluster_id) : info ? (JSON.parse(info) as { key?: string }).key : undefined;
    if (!key) {
      key = randomKey();
      this.#storage.putMeta(SERVER_RECORD, "info", JSON.stringify({ key, cluster_id: opts.cluster_id }));
    }
    const discover = `${opts.discover_prefix}.${opts.cluster_id}`;
    this.subjects = {
      discover,
      pub: `_STAN.pub.${key}`,
      sub: `_STAN.sub.${key}`,
      unsub: `_STAN.unsub.${key}`,
      subClose: `_STAN.subclose.${key}`,
      close: `_STAN.close.${key}`,
      ping: `${discover}.pings`,
      ack: `_STAN.ack.${key}`,
      hb: `_STAN.hb.${key}`,
    };
  }

  /** Opens the stored channels and their durables, then starts answering. */
  start(): void {
    // Clients and their subscriptions come back as they were: a client that reconnects to the restarted
    // server goes on; one that does not is closed by the heartbeats.
    for (const [, raw] of this.#storage.listMeta(SERVER_RECORD, "c.")) {
      const saved = JSON.parse(raw) as { id: string; hbInbox: string; connID: string };
      this.#addClient(saved.id, saved.hbInbox, saved.connID);
    }
    for (const name of this.#storage.streamNames()) {
      if (name === SERVER_RECORD || !isValidPublishSubject(name)) continue;
      const ch = this.#openChannel(name);
      const back = ch.loadGroups((m) => this.clients.has(m.clientID));
      for (const sub of back) {
        const c = this.clients.get(sub.clientID);
        if (c === undefined) throw new Error(`stan: restored member ${sub.ackInbox} without its client`);
        c.subs.add(sub);
        this.#byAckInbox.set(sub.ackInbox, { client: c, sub, channel: ch });
        this.#nextAck = Math.max(this.#nextAck, Number(sub.ackInbox.slice(this.subjects.ack.length + 1)) + 1 || 0);
      }
      for (const key of ch.groups.keys()) {
        if (key.startsWith("sub:")) this.#nextAck = Math.max(this.#nextAck, Number(key.slice(4)) + 1 || 0);
      }
    }
    for (const ch of this.channels.values()) {
      ch.pumpAll();
      this.#touch(ch);
    }
    const s = this.subjects;
    // Every node of a cluster hears every request; only the serving one (the leader) answers, the others stay
    // silent as nats-streaming-server's followers do.
    const on = (subject: string, h: (m: { subject: string; reply?: string; payload: Uint8Array }) => void) => {
      this.#bus.subscribe(subject, (m) => {
        if (this.#active) h(m);
      });
    };
    on(s.discover, (m) => this.#onConnect(m.payload, m.reply));
    on(`${s.pub}.>`, (m) => this.#onPublish(m.subject, m.payload, m.reply));
    on(s.sub, (m) => this.#onSubscribe(m.payload, m.reply));
    on(s.unsub, (m) => this.#onUnsubscribe(m.payload, m.reply, false));
    on(s.subClose, (m) => this.#onUnsubscribe(m.payload, m.reply, true));
    on(s.close, (m) => this.#onClose(m.payload, m.reply));
    on(s.ping, (m) => this.#onPing(m.payload, m.reply));
    on(`${s.ack}.*`, (m) => this.#onAck(m.subject, m.payload));
    on(`${s.hb}.*`, (m) => this.#onHeartbeatReply(m.subject));
  }

  // --- clustered mode -----------------------------------------------------------------------------

  /** Whether this node answers clients (standalone: always; clustered: the leader once it caught up). */
  get serving(): boolean {
    return this.#active;
  }

  #record(e: StanEntry): void {
    if (this.#replication === undefined || this.#stopped) return;
    const index = this.#replication.propose(encodeStanEntry(e));
    if (index === 0) this.#log(`STAN: ${e.op} entry not replicated (no longer the leader)`);
    else this.#lastProposed = Math.max(this.#lastProposed, index);
  }

  /** Leadership of the STAN cluster's Raft group changed. */
  leaderChanged(isLeader: boolean): void {
    if (this.#stopped || this.#replication === undefined) return;
    if (!isLeader) {
      if (this.#active) {
        this.#deactivate();
        this.#rebuild();
      }
      return;
    }
    // Serve once everything logged before this term is applied here: the barrier entry says so.
    if (!this.#active) this.#replication.propose(encodeStanEntry({ op: "lead", origin: this.#origin }));
  }

  #activate(): void {
    this.#active = true;
    this.#log(`STAN: this node is the leader of cluster "${this.opts.cluster_id}" and serves its clients`);
    for (const c of this.clients.values()) {
      c.hbOutstanding = false;
      c.hbMisses = 0;
      c.hbTimer?.cancel();
      this.#scheduleHeartbeat(c);
    }
    for (const ch of this.channels.values()) ch.resume();
  }

  #deactivate(): void {
    this.#active = false;
    this.#log(`STAN: this node is no longer the leader of cluster "${this.opts.cluster_id}"`);
    for (const c of this.clients.values()) {
      c.hbTimer?.cancel();
      c.hbTimer = undefined;
    }
    for (const ch of this.channels.values()) ch.suspend();
  }

  /**
   * A leader that lost its leadership may hold changes it applied first and that never made it into the log:
   * its state is rebuilt from the entries it applied (committed, so in every node's log), and what comes later
   * is applied like any follower's.
   */
  #rebuild(): void {
    const replication = this.#replication;
    if (replication === undefined) return;
    this.#reset();
    this.#origin = randomKey();
    const snap = replication.snapshot();
    if (snap) this.#loadSnapshot(snap);
    let n = 0;
    for (const entry of replication.applied()) {
      if (entry.kind !== "cmd") continue;
      const e = decodeStanEntry(entry.data);
      if (e instanceof Error) throw new Error(`stan: corrupted Raft log entry ${entry.index}: ${e.message}`);
      this.#applyDecoded(e, false, entry.index);
      n++;
    }
    this.#log(`STAN: state rebuilt from ${snap ? "the snapshot and " : ""}${n} applied entries after losing the leadership`);
  }

  /** Forgets every client and channel (before a rebuild or a snapshot). */
  #reset(): void {
    for (const c of this.clients.values()) c.hbTimer?.cancel();
    for (const ch of this.channels.values()) {
      ch.close();
      this.#storage.dropStream(ch.name);
    }
    this.channels.clear();
    this.clients.clear();
    this.#byConn.clear();
    this.#byNum.clear();
    this.#byAckInbox.clear();
    this.#written.clear();
    this.#acks = [];
    this.stats.in_msgs = 0;
    this.stats.in_bytes = 0;
  }

  /**
   * The whole STAN state (clients, channels with their messages and groups) as a snapshot: a JSON header (u32
   * length first) and the messages' data after it, in the header's order. Taken only by a node that does not
   * serve, whose state is exactly the log it applied.
   */
  snapshot(): Uint8Array {
    const blobs: Uint8Array[] = [];
    const channels = [...this.channels.values()].map((ch) => {
      const msgs: Array<[number, number, number, string | null]> = [];
      for (let seq = ch.stream.firstSequence; seq <= ch.stream.lastSequence && seq > 0; seq++) {
        const m = ch.stream.load(seq);
        if (m === undefined) continue;
        const reply = m.headers ? findHeader(m.headers, "Stan-Reply") ?? null : null;
        msgs.push([m.seq, m.time, m.data.length, reply]);
        blobs.push(m.data);
      }
      return { name: ch.name, last: ch.stream.lastSequence, msgs, groups: ch.savedGroups() };
    });
    const clients = [...this.clients.values()].map((c) => ({ id: c.id, hbInbox: c.hbInbox, connID: c.connID }));
    const head = enc.encode(JSON.stringify({ nextAck: this.#nextAck, clients, channels }));
    let size = 4 + head.length;
    for (const b of blobs) size += b.length;
    const out = new Uint8Array(size);
    new DataView(out.buffer).setUint32(0, head.length);
    out.set(head, 4);
    let at = 4 + head.length;
    for (const b of blobs) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }

  /** The leader sent a snapshot (or a restart starts from one): the state becomes the snapshot's. */
  restoreSnapshot(data: Uint8Array): void {
    this.#reset();
    this.#loadSnapshot(data);
    this.#sinceSnapshot = 0;
  }

  #loadSnapshot(data: Uint8Array): void {
    const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
    const head = JSON.parse(new TextDecoder().decode(data.subarray(4, 4 + n))) as {
      nextAck: number;
      clients: Array<{ id: string; hbInbox: string; connID: string }>;
      channels: Array<{ name: string; last: number; msgs: Array<[number, number, number, string | null]>; groups: SavedGroup[] }>;
    };
    this.#nextAck = Math.max(this.#nextAck, head.nextAck);
    for (const c of head.clients) this.#addClient(c.id, c.hbInbox, c.connID);
    let at = 4 + n;
    for (const saved of head.channels) {
      const ch = this.#openChannel(saved.name);
      for (const [seq, ts, len, reply] of saved.msgs) {
        const headers = reply !== null ? enc.encode(`NATS/1.0\r\nStan-Reply: ${reply}\r\n\r\n`) : undefined;
        ch.stream.apply({ op: "msg", seq, ts, subject: saved.name, headers, data: data.slice(at, at + len), restored: true });
        at += len;
        this.stats.in_msgs++;
        this.stats.in_bytes += len;
      }
      if (ch.stream.lastSequence < saved.last) {
        // The last messages are gone (limits): the sequence still goes on from where it was.
        ch.stream.apply({ op: "msg", seq: saved.last, ts: 0, subject: saved.name, headers: undefined, data: new Uint8Array(0), restored: true });
        ch.stream.apply({ op: "remove", seqs: [saved.last] });
      }
      for (const sub of ch.restoreGroups(saved.groups)) {
        const c = this.clients.get(sub.clientID);
        if (c === undefined) throw new Error(`stan: snapshot member ${sub.ackInbox} without its client`);
        c.subs.add(sub);
        this.#byAckInbox.set(sub.ackInbox, { client: c, sub, channel: ch });
      }
    }
  }

  /** A committed entry of the STAN cluster's Raft log, on every node in log order. */
  applyEntry(entry: Entry): void {
    if (entry.kind !== "cmd" || this.#stopped) return;
    const e = decodeStanEntry(entry.data);
    if (e instanceof Error) throw new Error(`stan: corrupted Raft log entry ${entry.index}: ${e.message}`);
    this.#applyDecoded(e, e.origin === this.#origin, entry.index);
    // A snapshot must hold exactly what the log says through this entry: a leader that applied changes before
    // they committed waits until all of them are in (the entries commute: a change of a subscription only
    // names messages committed before it).
    const every = this.#replication?.compactEvery ?? 0;
    if (every > 0 && ++this.#sinceSnapshot >= every && (!this.#active || this.#lastProposed <= entry.index)) {
      this.#sinceSnapshot = 0;
      this.#replication?.compact(entry.index, this.snapshot());
    }
  }

  #applyDecoded(e: StanEntry, own: boolean, index: number): void {
    switch (e.op) {
      case "lead":
        if (own && !this.#active) this.#activate();
        return;
      case "pub":
        return this.#applyPublish(e, own);
      case "conn": {
        if (own) return;
        const old = this.clients.get(e.id);
        if (old) this.#forgetClient(old);
        this.#addClient(e.id, e.hbInbox, e.connID);
        return;
      }
      case "close": {
        const c = this.clients.get(e.id);
        if (!own && c) this.#forgetClient(c);
        return;
      }
      case "ch": {
        if (own) return;
        const ch = this.channels.get(e.ch) ?? this.#openChannel(e.ch);
        const sub = ch.apply(e.e, true);
        if (e.e.op === "join" && sub) {
          const c = this.clients.get(sub.clientID);
          if (c === undefined) throw new Error(`stan: replicated join of ${sub.ackInbox} without its client (entry ${index})`);
          c.subs.add(sub);
          this.#byAckInbox.set(sub.ackInbox, { client: c, sub, channel: ch });
          this.#nextAck = Math.max(this.#nextAck, Number(sub.ackInbox.slice(this.subjects.ack.length + 1)) + 1 || 0);
        } else if (e.e.op === "leave" && sub) {
          this.#byAckInbox.delete(sub.ackInbox);
          this.clients.get(sub.clientID)?.subs.delete(sub);
        }
        return;
      }
    }
  }

  #applyPublish(e: Extract<StanEntry, { op: "pub" }>, own: boolean): void {
    const ch = this.channels.get(e.ch) ?? this.#openChannel(e.ch);
    const headers = e.reply !== undefined ? enc.encode(`NATS/1.0\r\nStan-Reply: ${e.reply}\r\n\r\n`) : undefined;
    this.#applyTs = e.ts;
    let res: ReturnType<typeof ch.stream.publish>;
    try {
      res = ch.stream.publish(e.ch, headers, e.data);
    } finally {
      this.#applyTs = undefined;
    }
    const answer = own && this.#active;
    if (!("seq" in res)) {
      if (answer) this.#reply(e.ack, encode("PubAck", { guid: e.guid, error: `stan: ${res.description}` }));
      return;
    }
    this.stats.in_msgs++;
    this.stats.in_bytes += e.data.length;
    if (!answer) return;
    this.#reply(e.ack, encode("PubAck", { guid: e.guid }));
    ch.pumpAll();
  }

  /** A follower forgets a client the leader closed (its subscriptions left in entries of their own). */
  #forgetClient(c: StanClient): void {
    this.clients.delete(c.id);
    if (this.#byConn.get(c.connID) === c) this.#byConn.delete(c.connID);
    this.#byNum.delete(c.num);
    c.hbTimer?.cancel();
    for (const sub of c.subs) this.#byAckInbox.delete(sub.ackInbox);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#flush();
    this.#stopped = true;
    for (const c of this.clients.values()) c.hbTimer?.cancel();
    for (const t of this.#idle.values()) t.cancel();
    for (const ch of this.channels.values()) ch.close();
    this.#bus.close();
  }

  // --- channels -----------------------------------------------------------------------------------

  /** A channel's limits: the global ones, overridden by the first `channels` entry matching its name. */
  limitsFor(name: string): ChannelLimits {
    const l = { ...this.opts.limits };
    const exact = this.opts.channels[name];
    const match = exact ?? Object.entries(this.opts.channels).find(([p]) => subjectMatches(name, p))?.[1];
    if (match) Object.assign(l, match);
    return l;
  }

  #openChannel(name: string): Channel {
    const l = this.limitsFor(name);
    const cfg = jsSchemas().streamConfigSchema.parse({
      name,
      subjects: [name],
      storage: this.opts.store === "memory" ? "memory" : "file",
      max_msgs: l.max_msgs > 0 ? l.max_msgs : -1,
      max_bytes: l.max_bytes > 0 ? l.max_bytes : -1,
      max_age: l.max_age > 0 ? l.max_age * 1_000_000 : 0,
    });
    const created = new Date(this.clock.now()).toISOString();
    if (this.#storage.getMeta(name, "config") === undefined) {
      this.#storage.putMeta(name, "config", JSON.stringify({ config: cfg, created }));
    }
    // Writes are flushed once per batch of publishes, before their PubAcks (see #flush).
    const stream = new Stream(cfg, created, this.#storage, () => this.#applyTs ?? this.clock.now(), () => undefined);
    const ch = new Channel(name, stream, this.#storage, l, this.#host);
    this.channels.set(name, ch);
    return ch;
  }

  /** The channel, created on first use within max_channels; an error text otherwise. */
  #channel(name: string): Channel | string {
    const ch = this.channels.get(name);
    if (ch) return ch;
    if (this.opts.max_channels > 0 && this.channels.size >= this.opts.max_channels) return StanErrors.tooManyChannels;
    const opened = this.#openChannel(name);
    this.#touch(opened);
    return opened;
  }

  /**
   * Something happened on a channel (a message, a subscription change): with max_inactivity, a channel without
   * subscriptions is deleted once that long passes with nothing new (nats-streaming-server's rule).
   */
  #touch(ch: Channel): void {
    const ms = ch.limits.max_inactivity;
    if (ms <= 0) return;
    this.#idle.get(ch)?.cancel();
    this.#idle.delete(ch);
    if (ch.groups.size > 0) return;
    this.#idle.set(ch, this.clock.after(ms, () => {
      this.#idle.delete(ch);
      if (this.#stopped || this.channels.get(ch.name) !== ch || ch.groups.size > 0) return;
      this.channels.delete(ch.name);
      ch.close();
      this.#storage.dropStream(ch.name);
      this.#log(`STAN channel "${ch.name}" deleted after ${ms} ms of inactivity`);
    }));
  }

  // --- connect / close / ping / heartbeats ---------------------------------------------------------

  #reply(reply: string | undefined, bytes: Uint8Array): void {
    if (reply) this.#bus.publish(reply, bytes);
  }

  #onConnect(payload: Uint8Array, reply: string | undefined): void {
    const fail = (error: string) => this.#reply(reply, encode("ConnectResponse", { error }));
    const r = decode("ConnectRequest", payload);
    if (!r.ok) return fail(StanErrors.invalidConnReq);
    const req = r.value;
    if (req.clientID === "" || req.heartbeatInbox === "") return fail(StanErrors.invalidConnReq);
    if (!CLIENT_ID.test(req.clientID)) return fail(StanErrors.invalidClientID);
    if (this.#checking.has(req.clientID)) return fail(StanErrors.clientRegistered);
    const known = this.clients.get(req.clientID);
    if (known === undefined) return this.#register(req, reply);
    // nats-streaming-server's rule: the known client keeps its ID if it still answers a heartbeat.
    this.#checking.add(req.clientID);
    const token = `chk${this.#nextNum++}`;
    let done = false;
    const finish = (alive: boolean) => {
      if (done) return;
      done = true;
      timer.cancel();
      this.#dupChecks.delete(token);
      this.#checking.delete(req.clientID);
      if (this.#stopped || !this.#active) return;
      if (alive && this.clients.get(req.clientID) === known) return fail(StanErrors.clientRegistered);
      const still = this.clients.get(req.clientID);
      if (still) this.#closeClient(still);
      this.#register(req, reply);
    };
    const timer = this.clock.after(DUP_CHECK_MS, () => finish(false));
    this.#dupChecks.set(token, () => finish(true));
    this.#bus.publish(known.hbInbox, new Uint8Array(0), { reply: `${this.subjects.hb}.${token}` });
  }

  #addClient(id: string, hbInbox: string, connID: string): StanClient {
    const c: StanClient = {
      id,
      hbInbox,
      connID,
      num: this.#nextNum++,
      subs: new Set(),
      hbTimer: undefined,
      hbOutstanding: false,
      hbMisses: 0,
    };
    this.clients.set(c.id, c);
    if (c.connID !== "") this.#byConn.set(c.connID, c);
    this.#byNum.set(c.num, c);
    if (this.#active) this.#scheduleHeartbeat(c);
    return c;
  }

  #register(req: { clientID: string; heartbeatInbox: string; connID: Uint8Array; protocol: number; pingInterval: number; pingMaxOut: number }, reply: string | undefined): void {
    const c = this.#addClient(req.clientID, req.heartbeatInbox, hex(req.connID));
    this.#record({ op: "conn", origin: this.#origin, id: c.id, hbInbox: c.hbInbox, connID: c.connID });
    this.#storage.putMeta(SERVER_RECORD, `c.${c.id}`, JSON.stringify({ id: c.id, hbInbox: c.hbInbox, connID: c.connID }));
    const s = this.subjects;
    const withPings = req.protocol >= 1;
    this.#reply(
      reply,
      encode("ConnectResponse", {
        pubPrefix: s.pub,
        subRequests: s.sub,
        unsubRequests: s.unsub,
        closeRequests: s.close,
        subCloseRequests: s.subClose,
        pingRequests: withPings ? s.ping : undefined,
        pingInterval: withPings ? (req.pingInterval !== 0 ? req.pingInterval : DEFAULT_PING_INTERVAL_S) : undefined,
        pingMaxOut: withPings ? (req.pingMaxOut > 0 ? req.pingMaxOut : DEFAULT_PING_MAX_OUT) : undefined,
        protocol: withPings ? 1 : 0,
      }),
    );
  }

  #scheduleHeartbeat(c: StanClient): void {
    c.hbTimer = this.clock.after(this.opts.hb_interval, () => {
      if (this.clients.get(c.id) !== c) return;
      c.hbOutstanding = true;
      this.#bus.publish(c.hbInbox, new Uint8Array(0), { reply: `${this.subjects.hb}.${c.num}` });
      c.hbTimer = this.clock.after(this.opts.hb_timeout, () => {
        if (this.clients.get(c.id) !== c) return;
        if (c.hbOutstanding) c.hbMisses++;
        else c.hbMisses = 0;
        if (c.hbMisses >= this.opts.hb_fail_count) {
          this.#log(`STAN client ${c.id} missed ${c.hbMisses} heartbeats: closed`);
          this.#closeClient(c);
          return;
        }
        this.#scheduleHeartbeat(c);
      });
    });
  }

  #onHeartbeatReply(subject: string): void {
    const token = subject.slice(this.subjects.hb.length + 1);
    const check = this.#dupChecks.get(token);
    if (check) return check();
    const c = this.#byNum.get(Number(token));
    if (c) {
      c.hbOutstanding = false;
      c.hbMisses = 0;
    }
  }

  #onPing(payload: Uint8Array, reply: string | undefined): void {
    const r = decode("Ping", payload);
    const c = r.ok ? this.#byConn.get(hex(r.value.connID)) : undefined;
    if (c === undefined) return this.#reply(reply, encode("PingResponse", { error: StanErrors.clientReplaced }));
    this.#reply(reply, new Uint8Array(0));
  }

  #onClose(payload: Uint8Array, reply: string | undefined): void {
    const r = decode("CloseRequest", payload);
    if (!r.ok || r.value.clientID === "") return this.#reply(reply, encode("CloseResponse", { error: StanErrors.invalidCloseReq }));
    const c = this.clients.get(r.value.clientID);
    if (c === undefined) return this.#reply(reply, encode("CloseResponse", { error: StanErrors.unknownClient }));
    this.#closeClient(c);
    this.#reply(reply, encode("CloseResponse", {}));
  }

  /** Forgets a client: its subscriptions close (durables are kept for a later resume). */
  #closeClient(c: StanClient): void {
    if (this.clients.get(c.id) !== c) return;
    this.clients.delete(c.id);
    this.#storage.deleteMeta(SERVER_RECORD, `c.${c.id}`);
    if (this.#byConn.get(c.connID) === c) this.#byConn.delete(c.connID);
    this.#byNum.delete(c.num);
    c.hbTimer?.cancel();
    for (const sub of [...c.subs]) {
      const e = this.#byAckInbox.get(sub.ackInbox);
      if (e) this.#removeSub(e, true);
    }
    this.#record({ op: "close", origin: this.#origin, id: c.id });
  }

  #log(msg: string): void {
    this.#logFn?.(msg);
  }

  // --- publish ------------------------------------------------------------------------------------

  #onPublish(subject: string, payload: Uint8Array, reply: string | undefined): void {
    const r = decode("PubMsg", payload);
    if (!r.ok) return this.#reply(reply, encode("PubAck", { guid: "", error: StanErrors.invalidPubReq }));
    const pm = r.value;
    const ack = (error?: string) => this.#reply(reply, encode("PubAck", { guid: pm.guid, error }));
    const channelName = subject.slice(this.subjects.pub.length + 1);
    if (pm.guid === "" || !isValidPublishSubject(pm.subject) || pm.subject !== channelName) {
      return ack(StanErrors.invalidPubReq);
    }
    const c = pm.connID.length > 0 ? this.#byConn.get(hex(pm.connID)) : this.clients.get(pm.clientID);
    if (c === undefined || (pm.clientID !== "" && c.id !== pm.clientID)) return ack(StanErrors.invalidPubReq);
    const ch = this.#channel(pm.subject);
    if (typeof ch === "string") return ack(ch);
    if (this.#replication !== undefined) {
      // Stored (by every node) and acknowledged once committed: see #applyPublish.
      return this.#record({
        op: "pub",
        origin: this.#origin,
        ch: pm.subject,
        ts: this.clock.now(),
        guid: pm.guid,
        ack: reply,
        reply: pm.reply !== "" ? pm.reply : undefined,
        data: pm.data,
      });
    }
    const headers = pm.reply !== "" ? enc.encode(`NATS/1.0\r\nStan-Reply: ${pm.reply}\r\n\r\n`) : undefined;
    const res = ch.stream.publish(pm.subject, headers, pm.data);
    if (!("seq" in res)) return ack(`stan: ${res.description}`);
    this.stats.in_msgs++;
    this.stats.in_bytes += pm.data.length;
    this.#written.add(ch);
    this.#touch(ch);
    if (reply) this.#acks.push(reply, encode("PubAck", { guid: pm.guid }));
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /**
   * After a batch of publishes (everything handled in one turn): one write per channel, then the PubAcks, then
   * the deliveries — a message is acknowledged and delivered only once it reached the operating system.
   */
  #flush(): void {
    this.#flushQueued = false;
    const written = [...this.#written];
    this.#written.clear();
    for (const ch of written) ch.stream.flush();
    const acks = this.#acks;
    this.#acks = [];
    for (let i = 0; i < acks.length; i += 2) this.#bus.publish(acks[i] as string, acks[i + 1] as Uint8Array);
    for (const ch of written) ch.pumpAll();
  }

  #send(sub: Sub, m: StoredMsg, redelivered: boolean, count: number): void {
    const reply = m.headers ? findHeader(m.headers, "Stan-Reply") : undefined;
    this.stats.out_msgs++;
    this.stats.out_bytes += m.data.length;
    this.#bus.publish(
      sub.inbox,
      encode("MsgProto", {
        sequence: m.seq,
        subject: m.subject,
        reply,
        data: m.data,
        timestamp: BigInt(m.time) * 1_000_000n,
        redelivered: redelivered || undefined,
        redeliveryCount: count > 0 ? count : undefined,
      }),
    );
  }

  // --- subscriptions ------------------------------------------------------------------------------

  #onSubscribe(payload: Uint8Array, reply: string | undefined): void {
    const fail = (error: string) => this.#reply(reply, encode("SubscriptionResponse", { error }));
    const r = decode("SubscriptionRequest", payload);
    if (!r.ok) return fail(StanErrors.invalidSubReq);
    const sr = r.value;
    if (sr.clientID === "") return fail(StanErrors.missingClient);
    const c = this.clients.get(sr.clientID);
    if (c === undefined) return fail(StanErrors.unknownClient);
    if (!isValidPublishSubject(sr.subject)) return fail(StanErrors.invalidSubject);
    if (sr.inbox === "" || !isValidPublishSubject(sr.inbox)) return fail(StanErrors.invalidSubReq);
    if (sr.ackWaitInSecs <= 0) return fail(StanErrors.invalidAckWait);
    if (sr.maxInFlight <= 0) return fail(StanErrors.invalidMaxInflight);
    if (sr.startPosition < StartPosition.NewOnly || sr.startPosition > StartPosition.First) return fail(StanErrors.invalidStart);
    if (sr.qGroup !== "" && sr.durableName.includes(":")) return fail(StanErrors.invalidDurName);
    const ch = this.#channel(sr.subject);
    if (typeof ch === "string") return fail(ch);

    const durable = sr.durableName !== "" ? sr.durableName : undefined;
    const qgroup = sr.qGroup !== "" ? sr.qGroup : undefined;
    let key: string;
    if (qgroup !== undefined) key = durable !== undefined ? `dq:${durable}:${qgroup}` : `q:${qgroup}`;
    else if (durable !== undefined) key = `dur:${sr.clientID}:${durable}`;
    else key = `sub:${this.#nextAck}`;
    const g = ch.groups.get(key);
    if (g && qgroup === undefined && g.members.length > 0) return fail(StanErrors.dupDurable);
    // A resumed durable was already counted while nobody was attached to it.
    const after = ch.subCount() + (g !== undefined && g.members.length === 0 ? 0 : 1);
    if (ch.limits.max_subs > 0 && after > ch.limits.max_subs) return fail(StanErrors.tooManySubs);
    const start = g === undefined ? ch.startCursor(sr.startPosition, sr.startSequence, sr.startTimeDelta) : g.lastSent;
    const ackInbox = `${this.subjects.ack}.${this.#nextAck++}`;
    // The response first: the client learns where to ack before its first message arrives.
    this.#reply(reply, encode("SubscriptionResponse", { ackInbox }));
    const member = { clientID: sr.clientID, inbox: sr.inbox, ackInbox, maxInflight: sr.maxInFlight, ackWait: sr.ackWaitInSecs * 1000 };
    const sub = ch.join(key, durable, qgroup, start, member);
    c.subs.add(sub);
    this.#byAckInbox.set(ackInbox, { client: c, sub, channel: ch });
    this.#touch(ch);
  }

  #onUnsubscribe(payload: Uint8Array, reply: string | undefined, close: boolean): void {
    const fail = (error: string) => this.#reply(reply, encode("SubscriptionResponse", { error }));
    const r = decode("UnsubscribeRequest", payload);
    if (!r.ok || r.value.clientID === "" || r.value.inbox === "") return fail(StanErrors.invalidUnsubReq);
    const e = this.#byAckInbox.get(r.value.inbox);
    if (e === undefined || e.client.id !== r.value.clientID || e.channel.name !== r.value.subject) {
      return fail(StanErrors.invalidSub);
    }
    this.#removeSub(e, close);
    this.#reply(reply, encode("SubscriptionResponse", {}));
  }

  #removeSub(e: { client: StanClient; sub: Sub; channel: Channel }, keepDurable: boolean): void {
    this.#byAckInbox.delete(e.sub.ackInbox);
    e.client.subs.delete(e.sub);
    e.channel.leave(e.sub, keepDurable);
    this.#touch(e.channel);
  }

  #onAck(subject: string, payload: Uint8Array): void {
    const e = this.#byAckInbox.get(subject);
    if (e === undefined) return;
    const r = decode("Ack", payload);
    if (!r.ok || r.value.subject !== e.channel.name) return;
    e.channel.ack(e.sub, r.value.sequence);
  }
}
