/**
 * The cluster manager: the route listener, the routes this server solicits (configured ones, retried for
 * as long as the server runs; gossiped ones, tried a few times), one registered route per peer (see register()
 * for duplicates: a route that carried traffic is never the one closed), INFO gossip that turns seed clusters
 * into a full mesh, the local interest announced as RS+/RS-, and the client URLs of the cluster.
 */
import type { ClusterOptions } from "../config/schema.ts";
import type { Logger } from "../log/logger.ts";
import { secretMatches } from "../server/auth.ts";
import { randomToken } from "../server/ids.ts";
import { PETREL_VERSION, type Server, VERSION } from "../server/server.ts";
import type { Subscription } from "../server/types.ts";
import type { Account } from "../accounts/account.ts";
import type { Duplex, Listener, Transport } from "../transport/types.ts";
import type { RouteConnect, RouteInfo } from "./protocol.ts";
import { ownWsConnectUrl } from "../websocket/varz.ts";
import { LocalInterest } from "./interest.ts";
import { backoff, LINK_BACKOFF, Redial } from "../server/redial.ts";
import { RouteConn } from "./route.ts";
import type { RouteHost } from "./types.ts";
import { joinHostPort, parseRouteUrl, reachableHost, type RouteUrl } from "./urls.ts";
import { advertisedHosts } from "../transport/addr.ts";
import { afterAllRead } from "./read_barrier.ts";
import type { Timer } from "../runtime/clock.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

/** The route protocol version nats-server 2.9 announces in its route INFO. */
const ROUTE_PROTO = 2;
const RETRY_MIN_MS = LINK_BACKOFF.minMs;
/** While a configured peer is connected (by either side), check again this often. */
const IDLE_CHECK_MS = 1000;
/** How long stop() waits for route dials still in flight. */
const DIAL_DRAIN_MS = 1000;
/**
 * Spare connections kept per peer (see Cluster.#peerDecides). Crossed dials make one, a gossiped dial racing a
 * configured one two; a peer that opens more without closing any is not resolving duplicates, and gets refused.
 */
const MAX_SPARES_PER_PEER = 4;
/** How long a read barrier over the routes waits for a peer that does not answer (see read_barrier.ts). */
const READ_BARRIER_CAP_MS = 2000;

/** A configured (explicit) route: dialed until the server stops, unless it turns out to be ourselves. */
interface Solicit {
  url: RouteUrl;
  /** The server id last seen behind this URL. */
  knownId?: string;
  conn?: RouteConn;
  dialing: boolean;
  /** Its dial timer and failed attempts (see Redial). */
  redial: Redial;
  self: boolean;
}

export interface ClusterDeps {
  transport: Transport;
  logger: Logger;
  /** The host's interface addresses, advertised for a wildcard client listener (as nats-server does). */
  interfaceAddresses?: () => string[];
}

export class Cluster implements RouteHost {
  readonly server: Server;
  readonly logger: Logger;
  readonly options: ClusterOptions;
  readonly #transport: Transport;
  #name: string;
  readonly #dynamic: boolean;
  #listener: Listener | undefined;
  /** Every live route connection, registered or still in its handshake. */
  readonly routes = new Set<RouteConn>();
  /** One registered route per peer server id. */
  readonly remotes = new Map<string, RouteConn>();
  /**
   * More connections to a Petrel peer with a smaller server id, which decides which one stays (see register()):
   * active like the registered one (they hear our interest and gossip, and carry messages if the peer announces
   * interest on them) until the peer closes all but one.
   */
  readonly #spares = new Set<RouteConn>();
  readonly #solicits: Solicit[] = [];
  /** Gossiped peers being dialed (by server id). */
  readonly #implicitPending = new Set<string>();
  /** Delayed dials of gossiped peers: light timers (on Deno a runtime setTimeout loads Node's timer layer for good). */
  readonly #timers = new Set<Timer>();
  readonly #dials = new Set<Promise<unknown>>();
  readonly #interest = new LocalInterest((added, i) => {
    for (const r of this.remotes.values()) r.sendInterest(added, i.subject, i.queue, i.count, i.account);
    for (const r of this.#spares) r.sendInterest(added, i.subject, i.queue, i.count, i.account);
  });
  #nextRid = 1;
  #stopped = false;
  readonly #onSub = (sub: Subscription, added: boolean, account: Account) => this.#interest.changed(sub, added, account.name);
  /** Every registered route's peer has read what was sent to it so far (see read_barrier.ts). */
  readonly #afterRoutesRead = (done: () => void): void => {
    const active = [...this.remotes.values()].filter((r) => r.state === "active").map((r) => r.wire);
    afterAllRead(active, READ_BARRIER_CAP_MS, done);
  };
  readonly #routedServers = (): string[] => [...this.remotes.values()].map((r) => r.remoteName).filter((n) => n !== "");

  readonly #interfaceAddresses: (() => string[]) | undefined;

  constructor(server: Server, options: ClusterOptions, deps: ClusterDeps) {
    this.server = server;
    this.options = options;
    this.logger = deps.logger;
    this.#transport = deps.transport;
    this.#interfaceAddresses = deps.interfaceAddresses;
    this.#dynamic = options.name === undefined || options.name === "";
    this.#name = this.#dynamic ? randomToken(22) : options.name as string;
    for (const text of options.routes) {
      const url = parseRouteUrl(text);
      if (url === undefined) {
        this.logger.error(`Error parsing route URL ${JSON.stringify(text)}, ignoring it`);
        continue;
      }
      const s: Solicit = { url, dialing: false, self: false, redial: new Redial(() => this.#solicitTick(s)) };
      this.#solicits.push(s);
    }
  }

  get clusterName(): string {
    return this.#name;
  }

  get dynamicName(): boolean {
    return this.#dynamic;
  }

  /** The bound route port (0 when the server only solicits). */
  get port(): number {
    return this.#listener?.port ?? 0;
  }

  get host(): string {
    return this.#listener?.host ?? this.options.host;
  }

  /** The route URL to advertise in the ports file and in gossip. */
  get routeUrl(): string | undefined {
    if (this.#listener === undefined) return undefined;
    return `nats://${joinHostPort(reachableHost(this.#listener.host), this.#listener.port)}`;
  }

  /** The configured routes as nats-server's /varz lists them: host:port, credentials left out. */
  get configuredUrls(): string[] {
    return this.#solicits.map((s) => joinHostPort(s.url.host, s.url.port));
  }

  async start(): Promise<void> {
    const o = this.options;
    if (o.port !== 0) {
      const port = o.port < 0 ? 0 : o.port;
      this.#listener = await this.#transport.listen({ host: o.host, port }, (d) => this.#accept(d));
      this.logger.info(`Cluster name is ${this.#name}`);
      if (this.#dynamic) this.logger.warn("Cluster name was dynamically generated, consider setting one");
      this.logger.info(`Listening for route connections on ${joinHostPort(this.#listener.host, this.#listener.port)}`);
    }
    this.server.infoExtras.cluster = this.#name;
    this.server.exportListeners.add(this.#onSub);
    this.server.afterRoutesRead = this.#afterRoutesRead;
    this.server.routedServers = this.#routedServers;
    for (const a of this.server.accounts) for (const sub of a.sublist.all()) this.#interest.changed(sub, true, a.name);
    this.#refreshConnectUrls();
    for (const s of this.#solicits) this.#scheduleSolicit(s, 0);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.server.exportListeners.delete(this.#onSub);
    if (this.server.afterRoutesRead === this.#afterRoutesRead) this.server.afterRoutesRead = undefined;
    if (this.server.routedServers === this.#routedServers) this.server.routedServers = undefined;
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    for (const s of this.#solicits) s.redial.stop();
    const l = this.#listener;
    this.#listener = undefined;
    if (l !== undefined) await l.close().catch(() => {});
    for (const r of [...this.routes]) r.close("Server Shutdown");
    // Dials still in flight finish (refused, or opened and closed at once) before we report stopped.
    if (this.#dials.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<void>((r) => (timer = setTimeout(r, DIAL_DRAIN_MS)));
      await Promise.race([Promise.allSettled([...this.#dials]), limit]);
      clearTimeout(timer);
    }
  }

  // ---- connections ----

  #accept(duplex: Duplex): RouteConn {
    const r = new RouteConn(this.#nextRid++, duplex, this, { solicited: false });
    this.routes.add(r);
    if (this.#stopped) {
      queueMicrotask(() => r.close("Server Shutdown"));
      return r;
    }
    this.logger.info(`${r.label()} - Route connection created`);
    const auth = this.options.authorization;
    const needAuth = auth !== undefined && (auth.user !== undefined || auth.token !== undefined);
    r.begin(needAuth ? auth.timeout : undefined);
    return r;
  }

  #dial(target: { host: string; port: number }, configured: Solicit | undefined, creds: { user?: string; password?: string }): Promise<RouteConn> {
    let conn: RouteConn | undefined;
    const dialing = this.#transport.dial({ host: target.host, port: target.port }, (d) => {
      const r = new RouteConn(this.#nextRid++, d, this, { solicited: true, configuredUrl: configured?.url.text });
      routeCreds.set(r, creds);
      conn = r;
      this.routes.add(r);
      this.logger.info(`${r.label()} - Route connection created`);
      r.begin(undefined);
      return r;
    });
    this.#dials.add(dialing);
    const done = () => this.#dials.delete(dialing);
    dialing.then(done, done);
    return dialing.then(() => {
      if (conn === undefined) throw new Error("route dial produced no connection");
      if (this.#stopped) conn.close("Server Shutdown");
      return conn;
    });
  }

  #scheduleSolicit(s: Solicit, delayMs: number): void {
    if (this.#stopped || s.self) return;
    s.redial.schedule(delayMs);
  }

  #solicitTick(s: Solicit): void {
    if (this.#stopped || s.self || s.dialing) return;
    if (s.conn !== undefined && s.conn.state !== "closed") return; // its close reschedules
    if (s.knownId !== undefined && this.remotes.has(s.knownId)) {
      // Connected through the route the peer solicited; keep watching.
      this.#scheduleSolicit(s, IDLE_CHECK_MS);
      return;
    }
    s.dialing = true;
    this.#dial(s.url, s, { user: s.url.user, password: s.url.password }).then((conn) => {
      s.dialing = false;
      s.conn = conn;
      s.redial.succeeded();
      if (conn.state === "closed") this.#scheduleSolicit(s, backoff(1));
    }, (e: unknown) => {
      s.dialing = false;
      const n = ++s.redial.attempts;
      if (n === 1 || n % 30 === 0) {
        this.logger.debug(`Error trying to connect to route (attempt ${n}): ${e instanceof Error ? e.message : String(e)}`);
      }
      if (!this.#stopped && !s.self) s.redial.retry();
    });
  }

  /** A gossiped peer: dial it unless we know it already or it is one of our configured routes. */
  #implicit(info: RouteInfo, via: RouteConn, retries: number): void {
    const id = info.server_id;
    if (this.#stopped || id === this.server.serverId || this.remotes.has(id) || this.#implicitPending.has(id)) return;
    const target = info.ip !== undefined ? parseRouteUrl(info.ip) : undefined;
    if (target === undefined) return;
    for (const s of this.#solicits) {
      if (s.knownId === id) return;
      if (s.url.port === target.port && sameHost(s.url.host, target.host)) return;
    }
    this.#implicitPending.add(id);
    this.logger.debug(`${via.label()} - Connecting to implicit route ${target.text} (${id})`);
    const auth = this.options.authorization;
    const creds = info.auth_required ? { user: auth?.user ?? auth?.token, password: auth?.password } : {};
    let attempt = 0;
    const tryOnce = () => {
      if (this.#stopped || this.remotes.has(id)) {
        this.#implicitPending.delete(id);
        return;
      }
      this.#dial(target, undefined, creds).then(() => this.#implicitPending.delete(id), () => {
        attempt++;
        if (attempt > retries) {
          this.#implicitPending.delete(id);
          return;
        }
        this.#later(tryOnce, backoff(attempt));
      });
    };
    tryOnce();
  }

  #later(fn: () => void, ms: number): void {
    const t = lightTimeout(ms, () => {
      this.#timers.delete(t);
      fn();
    });
    this.#timers.add(t);
  }

  // ---- RouteHost ----

  routeInfoObject(): Record<string, unknown> {
    const s = this.server;
    const info: Record<string, unknown> = {
      server_id: s.serverId,
      server_name: s.serverName,
      version: VERSION,
      proto: ROUTE_PROTO,
      go: `petrel${PETREL_VERSION}`,
      host: reachableHost(this.host),
      port: this.port,
      headers: true,
      max_payload: s.options.max_payload,
      cluster: this.#name,
    };
    const auth = this.options.authorization;
    if (auth !== undefined && (auth.user !== undefined || auth.token !== undefined)) info.auth_required = true;
    if (this.options.tls !== undefined) {
      info.tls_required = true;
      if (this.options.tls.verify) info.tls_verify = true;
    }
    if (this.#dynamic) info.cluster_dynamic = true;
    if (!this.options.no_advertise) {
      info.connect_urls = this.ownClientUrls();
      const ws = ownWsConnectUrl(s);
      if (ws !== undefined) info.ws_connect_urls = [ws];
    }
    if (this.options.advertise !== undefined) {
      const a = parseRouteUrl(this.options.advertise);
      if (a !== undefined) info.ip = `nats-route://${joinHostPort(a.host, a.port)}/`;
    }
    info.lnoc = true;
    return info;
  }

  routeInfoJson(): string {
    return JSON.stringify(this.routeInfoObject());
  }

  routeConnectJson(route: RouteConn): string {
    const creds = routeCreds.get(route) ?? {};
    const c: Record<string, unknown> = { echo: true, verbose: false, pedantic: false };
    if (creds.user !== undefined && creds.password === undefined) c.auth_token = creds.user;
    else if (creds.user !== undefined) {
      c.user = creds.user;
      c.pass = creds.password;
    }
    Object.assign(c, { tls_required: this.options.tls !== undefined, headers: true, name: this.server.serverId, cluster: this.#name });
    if (this.#dynamic) c.dynamic = true;
    c.lnoc = true;
    return JSON.stringify(c);
  }

  checkConnect(_route: RouteConn, c: RouteConnect): string | undefined {
    const auth = this.options.authorization;
    if (auth?.token !== undefined) {
      if (!secretMatches(auth.token, c.auth_token ?? c.pass ?? c.user)) return "Authorization Violation";
    } else if (auth?.user !== undefined) {
      if (c.user !== auth.user || !secretMatches(auth.password ?? "", c.pass)) return "Authorization Violation";
    }
    if (c.cluster !== undefined && c.cluster !== this.#name && !this.#dynamic && !c.dynamic) {
      return "Cluster Name Conflict";
    }
    return undefined;
  }

  register(route: RouteConn, info: RouteInfo): boolean {
    // A closed route registered would stay in `remotes` for good (its close was already handled).
    if (route.state === "closed") throw new Error(`invariant: ${route.label()} registered after it closed`);
    if (this.#stopped) {
      route.close("Server Shutdown");
      return false;
    }
    const id = info.server_id;
    const solicit = route.configuredUrl !== undefined ? this.#solicits.find((s) => s.url.text === route.configuredUrl) : undefined;
    if (id === this.server.serverId) {
      this.logger.debug(`${route.label()} - Detected route to self, ignoring`);
      if (solicit !== undefined) solicit.self = true;
      route.close("Duplicate Route");
      return false;
    }
    if (info.cluster !== undefined && info.cluster !== this.#name) {
      if (this.#dynamic && (!info.cluster_dynamic || this.#name < info.cluster)) {
        this.logger.info(`Cluster name updated to ${info.cluster}`);
        this.#name = info.cluster;
        this.server.infoExtras.cluster = info.cluster;
        for (const r of [...this.routes]) if (r !== route) r.close("Cluster Name Conflict");
      } else {
        // Two generated names: the peer adopts ours and comes back, so this is not worth an error.
        const log = this.#dynamic && info.cluster_dynamic ? this.logger.debug : this.logger.error;
        log.call(this.logger, `${route.label()} - Cluster name conflict: ours ${JSON.stringify(this.#name)}, remote ${JSON.stringify(info.cluster)}`);
        route.closeWithError("Cluster Name Conflict", "Cluster Name Conflict");
        return false;
      }
    }
    if (solicit !== undefined) solicit.knownId = id;
    const existing = this.remotes.get(id);
    if (existing !== undefined && existing !== route) {
      if (this.#peerDecides(route) && this.#sparesOf(id) < MAX_SPARES_PER_PEER) {
        this.#spares.add(route);
        this.logger.debug(`${route.label()} - Second route to ${JSON.stringify(id)}, kept until the peer closes one`);
        return true;
      }
      this.logger.debug(`${route.label()} - Detected duplicate remote route ${JSON.stringify(id)}`);
      route.close("Duplicate Route");
      return false;
    }
    this.remotes.set(id, route);
    this.logger.info(`${route.label()} - Route connection registered with ${info.server_name ?? id}`);
    if (existing === undefined && this.remotes.size > 1) this.#gossip(route, info);
    this.#refreshConnectUrls();
    return true;
  }

  /**
   * A second connection to a registered peer. The end that closes one must close a connection that has carried
   * nothing yet, and both ends must end up with the same one. A server keeps the first it registered and
   * closes a later one at once (nats-server does the same); a route only carries messages once the far end has
   * registered it and announced interest on it, so a route closed before it was registered has carried nothing.
   * Crossed dials can register in opposite orders on the two ends, though, and closing on both would leave none.
   * So between two Petrel servers only the one with the smaller id closes duplicates; the other keeps every
   * connection as a spare and announces its interest on each, and the peer's interest (hence our traffic)
   * arrives only on the one the peer kept. When the peer closes our registered one, a spare takes its place.
   */
  #peerDecides(incoming: RouteConn): boolean {
    const peerIsPetrel = typeof incoming.remoteInfo?.go === "string" && String(incoming.remoteInfo.go).startsWith("petrel");
    return peerIsPetrel && incoming.remoteId < this.server.serverId;
  }

  #sparesOf(id: string): number {
    let n = 0;
    for (const r of this.#spares) if (r.remoteId === id) n++;
    return n;
  }

  /** A spare connection to `id` to take the registered one's place (see #peerDecides). */
  #spareFor(id: string): RouteConn | undefined {
    for (const r of this.#spares) {
      if (r.remoteId !== id) continue;
      if (r.state !== "active") throw new Error(`invariant: spare ${r.label()} is ${r.state}`);
      return r;
    }
    return undefined;
  }

  /** Tell the other routes about a new peer so that they connect to it too (full mesh). */
  #gossip(route: RouteConn, info: RouteInfo): void {
    const fwd: Record<string, unknown> = { ...info };
    if (fwd.ip === undefined && info.port !== undefined && info.port > 0) {
      fwd.ip = `nats-route://${joinHostPort(route.duplex.info.remoteHost, info.port)}/`;
    }
    if (fwd.ip === undefined) return;
    delete fwd.nonce;
    const json = JSON.stringify(fwd);
    for (const r of this.remotes.values()) if (r !== route) r.sendInfo(json);
    // A spare may be the connection its peer keeps.
    for (const r of this.#spares) if (r.remoteId !== route.remoteId) r.sendInfo(json);
  }

  asyncInfo(route: RouteConn, info: RouteInfo): void {
    if (info.server_id !== route.remoteId) {
      this.#implicit(info, route, this.options.connect_retries);
      return;
    }
    route.connectUrls = info.connect_urls ?? [];
    route.wsConnectUrls = info.ws_connect_urls ?? [];
    this.#refreshConnectUrls();
  }

  routeClosed(route: RouteConn): void {
    this.routes.delete(route);
    const id = route.remoteId;
    const wasSpare = this.#spares.delete(route);
    const wasRegistered = !wasSpare && id !== "" && this.remotes.get(id) === route;
    // The peer is gone, rather than one of several connections to it.
    let lost = wasRegistered;
    if (wasRegistered) {
      this.remotes.delete(id);
      this.logger.info(`${route.label()} - Route connection closed: ${route.closeReason}`);
      const spare = this.#spareFor(id);
      if (spare !== undefined) {
        // The peer kept this one (see #peerDecides); the closed route's interest went with it, the spare has its own.
        this.#spares.delete(spare);
        this.remotes.set(id, spare);
        lost = false;
        this.logger.info(`${spare.label()} - Route connection registered with ${spare.remoteName || id}`);
      }
      // While shutting down, clients keep the cluster's URLs: they need them to fail over.
      if (!this.#stopped) this.#refreshConnectUrls();
    } else {
      this.logger.debug(`${route.label()} - Route connection closed: ${route.closeReason}`);
    }
    if (this.#stopped) return;
    for (const s of this.#solicits) {
      if (s.conn === route) {
        s.conn = undefined;
        this.#scheduleSolicit(s, backoff(1) + Math.floor(Math.random() * RETRY_MIN_MS));
      } else if (lost && s.knownId === id) {
        this.#scheduleSolicit(s, backoff(1) + Math.floor(Math.random() * RETRY_MIN_MS));
      }
    }
    // A gossiped peer that drops (not as a duplicate) is tried again a few times; a restarted node
    // rejoins through its own configured routes anyway.
    if (lost && route.solicited && route.configuredUrl === undefined && route.closeReason !== "Duplicate Route" && route.remoteInfo !== undefined) {
      const info = route.remoteInfo;
      const ip = info.ip ?? (info.port ? `nats-route://${joinHostPort(route.duplex.info.remoteHost, info.port)}/` : undefined);
      if (ip !== undefined) {
        this.#later(() => this.#implicit({ ...info, ip }, route, Math.max(this.options.connect_retries, 3)), backoff(1));
      }
    }
  }

  *localInterest(): Iterable<{ account: string; subject: string; queue: string | undefined; weight: number }> {
    for (const i of this.#interest.entries()) yield { account: i.account, subject: i.subject, queue: i.queue, weight: i.count };
  }

  // ---- client URLs ----

  /**
   * This server's client URLs for connect_urls: `client_advertise` if set; for a wildcard listener every
   * reachable address of the host (nats-server lists them all); else the listen host.
   */
  ownClientUrls(): string[] {
    const o = this.server.options;
    if (o.client_advertise !== undefined && o.client_advertise !== "") return [o.client_advertise];
    const host = this.server.clientHost;
    const hosts = advertisedHosts(host, this.#interfaceAddresses?.() ?? []);
    if (hosts.length === 0) hosts.push(reachableHost(host));
    return hosts.map((h) => joinHostPort(h, this.server.clientPort));
  }

  /** Client (and WebSocket client) URLs of every member; clients that understand async INFO get changes. */
  #refreshConnectUrls(): void {
    if (this.options.no_advertise) return;
    const urls = this.ownClientUrls();
    const own = ownWsConnectUrl(this.server);
    const ws = own === undefined ? [] : [own];
    for (const r of this.remotes.values()) {
      for (const u of r.connectUrls) if (!urls.includes(u)) urls.push(u);
      for (const u of r.wsConnectUrls) if (!ws.includes(u)) ws.push(u);
    }
    // A server with no peers advertises none (nats-server: no connect_urls in INFO or /varz while alone).
    if (this.remotes.size === 0) {
      urls.length = 0;
      ws.length = 0;
    }
    const s = this.server;
    if (sameList(s.connectUrls, urls) && sameList(s.wsConnectUrls, ws)) return;
    s.connectUrls = urls;
    s.wsConnectUrls = ws;
    s.broadcastInfo();
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((u, i) => u === b[i]);
}

/** Credentials a solicited route presents in its CONNECT. */
const routeCreds = new WeakMap<RouteConn, { user?: string; password?: string }>();


function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => (h === "localhost" ? "127.0.0.1" : h);
  return norm(a) === norm(b);
}
