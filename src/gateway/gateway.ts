/**
 * The gateway manager: links this cluster to other clusters (a supercluster), as nats-server 2.9 does.
 * - The gateway listener takes inbound connections: other clusters' servers sending us their messages.
 * - One outbound connection per remote gateway (cluster name), to the configured URLs, retried for as long
 *   as the server runs; a gateway we only learn of (an inbound connection, or gossip) is dialed too, at the
 *   URLs its INFO gives, which is how the reverse direction forms without configuration.
 * - This cluster's interest is announced on every inbound connection (interest-only mode from the start).
 * - Requests and their responses cross with mapped reply subjects (see replies.ts).
 */
import type { GatewayOptions } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import { secretMatches } from "../server/auth.ts";
import { PETREL_VERSION, type Server, VERSION } from "../server/server.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import type { Duplex, Listener, Transport } from "../transport/types.ts";
import { reachableHost } from "../cluster/urls.ts";
import { InboundGateway } from "./inbound.ts";
import { backoff, LINK_BACKOFF, Redial } from "../server/redial.ts";
import type { Account } from "../accounts/account.ts";
import { ClusterInterest, type GatewayInterestEntry } from "./interest.ts";
import { OutboundGateway } from "./outbound.ts";
import { type GatewayConnect, gatewayHash, type GatewayInfo, type GatewayUrl, GW_REPLY_PREFIX, parseGatewayUrl, parseMappedReply } from "./protocol.ts";
import { GatewayReplies, type ReplyRoutes } from "./replies.ts";
import type { GatewayConnView, GatewayHost } from "./types.ts";

/** Dials still in flight that stop() waits for. */
const DIAL_DRAIN_MS = 1000;
/** A gossiped or inbound-learned gateway is dialed this many times before giving up (while no inbound remains). */
const IMPLICIT_ATTEMPTS = 10;

/** A remote gateway (cluster) we keep one outbound connection to. */
export interface RemoteGateway {
  readonly name: string;
  readonly configured: boolean;
  /** URLs by host:port, configured ones first. */
  readonly urls: Map<string, GatewayUrl>;
  hash: string;
  conn: OutboundGateway | undefined;
  dialing: boolean;
  /** Its dial timer and attempts (see Redial). */
  readonly redial: Redial;
  next: number;
}

export interface GatewayDeps {
  transport: Transport;
  logger: Logger;
}

export class Gateway implements GatewayHost, ReplyRoutes {
  readonly server: Server;
  readonly logger: Logger;
  readonly options: GatewayOptions;
  readonly name: string;
  clusterHash = "";
  replyPrefix = new Uint8Array(0);
  readonly remotes = new Map<string, RemoteGateway>();
  readonly inbound = new Set<InboundGateway>();
  readonly #transport: Transport;
  #listener: Listener | undefined;
  #nextGid = 1;
  #stopped = false;
  readonly #dials = new Set<Promise<unknown>>();
  readonly #interest = new ClusterInterest((added, e) => {
    for (const c of this.inbound) c.sendInterest(added, e.subject, e.queue, e.account);
  });
  readonly #onSub = (sub: Subscription, added: boolean, account: Account) => this.#interest.changed(sub, added, account.name);
  /** An account created after the links came up: each link learns of it as of the others (see accountCreated). */
  readonly #onAccount = (a: Account) => {
    for (const c of this.inbound) c.accountCreated(a);
    for (const r of this.remotes.values()) r.conn?.accountCreated(a);
  };
  readonly #replies: GatewayReplies;

  constructor(server: Server, options: GatewayOptions, deps: GatewayDeps) {
    this.server = server;
    this.options = options;
    this.name = options.name;
    this.logger = deps.logger;
    this.#transport = deps.transport;
    for (const g of options.gateways) {
      if (g.name === this.name) continue; // our own cluster in a shared configuration
      const remote = this.#remote(g.name, true);
      for (const text of g.urls) {
        const u = parseGatewayUrl(text);
        if (u === undefined) this.logger.error(`Error parsing gateway URL ${JSON.stringify(text)}, ignoring it`);
        else remote.urls.set(u.key, u);
      }
    }
    this.#replies = new GatewayReplies(this);
  }

  get port(): number {
    return this.#listener?.port ?? 0;
  }

  get host(): string {
    return this.#listener?.host ?? this.options.host;
  }

  /** host:port other clusters dial us at. */
  get url(): string | undefined {
    if (this.options.advertise !== undefined && this.options.advertise !== "") {
      const a = parseGatewayUrl(this.options.advertise);
      if (a !== undefined) return a.key;
    }
    if (this.#listener === undefined) return undefined;
    const h = reachableHost(this.#listener.host);
    return h.includes(":") ? `[${h}]:${this.#listener.port}` : `${h}:${this.#listener.port}`;
  }

  /** Registered outbound connections by remote gateway name. */
  outbound(): Map<string, OutboundGateway> {
    const out = new Map<string, OutboundGateway>();
    for (const r of this.remotes.values()) if (r.conn !== undefined && r.conn.state === "active") out.set(r.name, r.conn);
    return out;
  }

  async start(): Promise<void> {
    this.clusterHash = await gatewayHash(this.name);
    const serverHash = await gatewayHash(this.server.serverId);
    this.replyPrefix = new TextEncoder().encode(`${GW_REPLY_PREFIX}${this.clusterHash}.${serverHash}.`);
    for (const r of this.remotes.values()) r.hash = await gatewayHash(r.name);
    const o = this.options;
    if (o.port !== 0) {
      const port = o.port < 0 ? 0 : o.port;
      this.#listener = await this.#transport.listen({ host: o.host, port }, (d) => this.#accept(d));
      this.logger.info(`Gateway name is ${this.name}`);
      this.logger.info(`Listening for gateways connections on ${this.#listener.host}:${this.#listener.port}`);
      this.logger.info(`Address for gateway ${JSON.stringify(this.name)} is ${this.url}`);
    }
    // nats-server requires the cluster name to be the gateway name; clients see it in INFO.
    this.server.infoExtras.cluster ??= this.name;
    this.server.mappedReply = (account, mapped) => {
      const m = parseMappedReply(mapped);
      if (m === undefined || m.cluster === this.clusterHash) return undefined;
      this.trackReply(account, mapped, m.reply, m.cluster);
      return m.reply;
    };
    this.server.exportListeners.add(this.#onSub);
    this.server.accounts.createdListeners.add(this.#onAccount);
    for (const a of this.server.accounts) for (const sub of a.sublist.all()) this.#interest.changed(sub, true, a.name);
    this.#replies.start();
    for (const r of this.remotes.values()) this.#schedule(r, 0);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.server.exportListeners.delete(this.#onSub);
    this.server.accounts.createdListeners.delete(this.#onAccount);
    this.server.mappedReply = undefined;
    this.#replies.stop();
    for (const r of this.remotes.values()) r.redial.stop();
    const l = this.#listener;
    this.#listener = undefined;
    if (l !== undefined) await l.close().catch(() => {});
    for (const c of [...this.inbound]) c.close("Server Shutdown");
    for (const r of this.remotes.values()) r.conn?.close("Server Shutdown");
    if (this.#dials.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<void>((res) => (timer = setTimeout(res, DIAL_DRAIN_MS)));
      await Promise.race([Promise.allSettled([...this.#dials]), limit]);
      clearTimeout(timer);
    }
  }

  // ---- connections ----

  #accept(duplex: Duplex): InboundGateway {
    const c = new InboundGateway(this.#nextGid++, duplex, this);
    if (this.#stopped) {
      queueMicrotask(() => c.close("Server Shutdown"));
      return c;
    }
    this.inbound.add(c);
    this.logger.info(`${c.label()} - Processing inbound gateway connection`);
    c.begin();
    return c;
  }

  #remote(name: string, configured: boolean): RemoteGateway {
    let r = this.remotes.get(name);
    if (r === undefined) {
      const remote: RemoteGateway = { name, configured, urls: new Map(), hash: "", conn: undefined, dialing: false, next: 0, redial: new Redial(() => this.#solicit(remote)) };
      r = remote;
      this.remotes.set(name, r);
    }
    return r;
  }

  #schedule(r: RemoteGateway, delayMs: number): void {
    if (this.#stopped) return;
    r.redial.schedule(delayMs);
  }

  #solicit(r: RemoteGateway): void {
    if (this.#stopped || r.dialing || (r.conn !== undefined && r.conn.state !== "closed")) return;
    if (!r.configured && r.redial.attempts >= IMPLICIT_ATTEMPTS && !this.#hasInbound(r.name)) {
      this.remotes.delete(r.name);
      return;
    }
    const urls = [...r.urls.values()];
    if (urls.length === 0) return;
    const u = urls[r.next++ % urls.length];
    r.dialing = true;
    const attempt = ++r.redial.attempts;
    const kind = r.configured ? "explicit" : "implicit";
    if (attempt === 1) this.logger.info(`Connecting to ${kind} gateway ${JSON.stringify(r.name)} (${u.key}) at ${u.key} (attempt ${attempt})`);
    let conn: OutboundGateway | undefined;
    const dialing = this.#transport.dial({ host: u.host, port: u.port }, (d) => {
      conn = new OutboundGateway(this.#nextGid++, d, this, r.name);
      gatewayCreds.set(conn, { user: u.user ?? this.options.authorization?.user ?? this.options.authorization?.token, password: u.password ?? this.options.authorization?.password });
      r.conn = conn;
      this.logger.info(`${conn.label()} - Creating outbound gateway connection to ${JSON.stringify(r.name)}`);
      conn.begin();
      return conn;
    });
    this.#dials.add(dialing);
    dialing.then(() => {
      this.#dials.delete(dialing);
      r.dialing = false;
      if (this.#stopped) conn?.close("Server Shutdown");
      else if (conn === undefined || conn.state === "closed") r.redial.retry();
    }, (e: unknown) => {
      this.#dials.delete(dialing);
      r.dialing = false;
      if (attempt === 1 || attempt % 30 === 0) {
        this.logger.debug(`Error connecting to ${kind} gateway ${JSON.stringify(r.name)} (${u.key}): ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!this.#stopped) r.redial.retry();
    });
  }

  #hasInbound(name: string): boolean {
    for (const c of this.inbound) if (c.remoteGateway === name && c.state !== "closed") return true;
    return false;
  }

  /** A gateway learned from an inbound connection's INFO or from gossip: make sure we dial it. */
  #implicit(name: string, urls: readonly string[]): void {
    if (this.#stopped || name === this.name || name === "") return;
    const known = this.remotes.get(name);
    const r = known ?? this.#remote(name, false);
    for (const text of urls) {
      const u = parseGatewayUrl(text);
      if (u !== undefined && !r.urls.has(u.key)) r.urls.set(u.key, u);
    }
    if (known !== undefined) {
      if (r.conn === undefined && !r.dialing && !r.redial.pending) this.#schedule(r, 0);
      return;
    }
    if (r.urls.size === 0) {
      this.remotes.delete(name);
      return;
    }
    gatewayHash(name).then((h) => {
      r.hash = h;
      this.#schedule(r, 0);
    });
  }

  // ---- GatewayHost ----

  infoObject(): Record<string, unknown> {
    const s = this.server;
    const url = this.url ?? "";
    const info: Record<string, unknown> = {
      server_id: s.serverId,
      server_name: s.serverName,
      version: VERSION,
      proto: 1,
      go: `petrel${PETREL_VERSION}`,
      host: url === "" ? reachableHost(this.host) : url.slice(0, url.lastIndexOf(":")).replace(/^\[|\]$/g, ""),
      port: url === "" ? this.port : Number(url.slice(url.lastIndexOf(":") + 1)),
      headers: true,
      max_payload: s.options.max_payload,
      gateway: this.name,
      gateway_urls: url === "" ? [] : [url],
      gateway_url: url,
      gateway_nrp: true,
      gateway_iom: true,
    };
    const auth = this.options.authorization;
    if (auth !== undefined && (auth.user !== undefined || auth.token !== undefined)) info.auth_required = true;
    if (this.options.tls !== undefined) {
      info.tls_required = true;
      if (this.options.tls.verify) info.tls_verify = true;
    }
    return info;
  }

  infoJson(): string {
    return JSON.stringify(this.infoObject());
  }

  connectJson(remote: string): string {
    const r = this.remotes.get(remote);
    const creds = r?.conn !== undefined ? gatewayCreds.get(r.conn) ?? {} : {};
    const c: Record<string, unknown> = { echo: false, verbose: false, pedantic: false };
    if (creds.user !== undefined && creds.password === undefined) c.auth_token = creds.user;
    else if (creds.user !== undefined) {
      c.user = creds.user;
      c.pass = creds.password;
    }
    Object.assign(c, { tls_required: this.options.tls !== undefined, headers: true, name: this.server.serverId, cluster: "", gateway: this.name });
    return JSON.stringify(c);
  }

  checkConnect(c: GatewayConnect): string | undefined {
    const auth = this.options.authorization;
    if (auth?.token !== undefined) {
      if (!secretMatches(auth.token, c.auth_token ?? c.pass ?? c.user)) return "Authorization Violation";
    } else if (auth?.user !== undefined) {
      if (c.user !== auth.user || !secretMatches(auth.password ?? "", c.pass)) return "Authorization Violation";
    }
    if (this.options.reject_unknown_cluster && c.gateway !== this.name && !this.remotes.get(c.gateway ?? "")?.configured) {
      return `Connection to gateway "${this.name}" rejected`;
    }
    return undefined;
  }

  registerOutbound(conn: GatewayConnView, info: GatewayInfo): boolean {
    const r = this.remotes.get(conn.remoteGateway);
    if (this.#stopped || r === undefined || r.conn !== conn) {
      conn.close(this.#stopped ? "Server Shutdown" : "Duplicate Gateway");
      return false;
    }
    r.redial.succeeded();
    for (const text of info.gateway_urls ?? []) {
      const u = parseGatewayUrl(text);
      if (u !== undefined && !r.urls.has(u.key)) r.urls.set(u.key, u);
    }
    this.logger.info(`${conn.label()} - Outbound gateway connection to ${JSON.stringify(r.name)} (${info.server_id ?? ""}) registered`);
    return true;
  }

  registerInbound(conn: GatewayConnView, info: GatewayInfo): boolean {
    if (this.#stopped) {
      conn.close("Server Shutdown");
      return false;
    }
    const name = conn.remoteGateway;
    this.logger.info(`${conn.label()} - Inbound gateway connection from ${JSON.stringify(name)} (${conn.remoteId}) registered`);
    // Tell the remote of the other gateways we know, so that it links to them too (full mesh of clusters).
    const c = conn as InboundGateway;
    for (const r of this.remotes.values()) {
      if (r.name === name || r.urls.size === 0) continue;
      c.sendInfo(JSON.stringify({ server_id: this.server.serverId, gateway: r.name, gateway_urls: [...r.urls.keys()], gateway_cmd: 1 }));
    }
    const urls = [...(info.gateway_urls ?? [])];
    if (info.gateway_url !== undefined && info.gateway_url !== "" && !urls.includes(info.gateway_url)) urls.push(info.gateway_url);
    this.#implicit(name, urls);
    return true;
  }

  gossiped(info: GatewayInfo): void {
    const name = info.gateway ?? "";
    if (this.options.reject_unknown_cluster && !this.remotes.get(name)?.configured) return;
    this.#implicit(name, info.gateway_urls ?? []);
  }

  connClosed(conn: GatewayConnView): void {
    if (conn instanceof InboundGateway) {
      this.inbound.delete(conn);
      this.logger.info(`${conn.label()} - Gateway connection closed: ${conn.closeReason}`);
      return;
    }
    const r = this.remotes.get(conn.remoteGateway);
    this.logger.info(`${conn.label()} - Gateway connection closed: ${conn.closeReason}`);
    if (r === undefined || r.conn !== conn) return;
    r.conn = undefined;
    if (!this.#stopped && !r.dialing) this.#schedule(r, backoff(1) + Math.floor(Math.random() * LINK_BACKOFF.minMs));
  }

  interest(): Iterable<GatewayInterestEntry> {
    return this.#interest.entries();
  }

  interestOf(account: string): GatewayInterestEntry[] {
    return [...this.#interest.entries()].filter((e) => e.account === account);
  }

  // ---- mapped replies ----

  trackReply(account: Account, mapped: string, reply: string, clusterHash: string): void {
    this.#replies.track(account, mapped, reply, clusterHash);
  }

  isTrackedReply(account: Account, subject: string): boolean {
    return this.#replies.isTracked(account, subject);
  }

  outboundByHash(hash: string): OutboundGateway | undefined {
    for (const r of this.remotes.values()) if (r.hash === hash && r.conn !== undefined) return r.conn;
    return undefined;
  }

  deliverHere(msg: RoutedMsg, account: Account): void {
    account.deliver(msg, REPLY_ORIGIN);
  }
}

/** Where a response to one of this cluster's own requests comes from: another cluster (never sent back there). */
const REPLY_ORIGIN: SubOwner = { cid: 0, kind: "gateway", echo: true, deliver: () => {}, removeSub: () => {} };

/** Credentials an outbound connection presents in its CONNECT. */
const gatewayCreds = new WeakMap<OutboundGateway, { user?: string; password?: string }>();

