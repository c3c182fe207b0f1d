/**
 * The broker: accepts connections from any transport, keeps the subscription index, routes messages, and
 * exposes the state monitoring reads. Cluster, gateway, JetStream and WebSocket plug in through the hooks
 * at the bottom (subscription listeners, internal clients, INFO extras, shutdown hooks).
 */
import type { ServerOptions } from "../config/schema.ts";
import type { ConnHandler, Duplex, Listener, TlsInfo, TlsSettings, Transport } from "../transport/types.ts";
import type { ReadText } from "../tls/config.ts";
import type { mapCertificateToUser } from "../tls/map.ts";
import type { OperatorTrust } from "../jwt/operator.ts";
import { authLibs } from "./auth_libs.ts";
import type { JwtStore } from "../jwt/store.ts";
import type { upgradeToTls } from "../tls/upgrade.ts";
import { type Logger, silentLogger } from "../log/logger.ts";
import type { Account, InterestListener } from "../accounts/account.ts";
import { AccountRegistry } from "../accounts/registry.ts";
import { accountsOf, accountUsers, systemAccountOf } from "../accounts/config.ts";
import type { AccountRules, ImportLink } from "../accounts/imports.ts";
import { schemas } from "../config/schemas_on_demand.ts";
import { authenticate, type AuthConfig, type AuthOutcome, authRequired, type AuthUser, usesNkeys } from "./auth.ts";
import { ClientConn } from "./client.ts";
import type { Producer } from "./flow.ts";
import type { ClientHost, ServerStats } from "./client_host.ts";
import type { ConnectOptions } from "./connect.ts";
import { randomServerId, randomToken } from "./ids.ts";
import { InternalClient } from "./internal.ts";
import type { HeldConns } from "./held_conns.ts";
import { lightInterval } from "../runtime/light_timers.ts";
import type { Timer } from "../runtime/clock.ts";

/** Reading `tls {}` blocks into the transport's settings: loaded by Server.start when the options name TLS. */
type TlsConfigCode = typeof import("../tls/config.ts");

/** The client listener's TLS code (the handshake, verify_and_map), loaded by Server.start when it uses TLS. */
interface ClientTlsCode {
  upgradeToTls: typeof upgradeToTls;
  mapCertificateToUser: typeof mapCertificateToUser;
}

export const VERSION = "2.9.10";
export const PETREL_VERSION = "0.1.0";

export interface ServerDeps {
  /** How to listen for clients. Without it the server only takes connections through acceptConnection. */
  transport?: Transport;
  logger?: Logger;
  /** Reads certificate files named by `tls {}` blocks (the runtime's; start-up fails on a missing file). */
  readFile?: ReadText;
  /** The full resolver's JWT directory (operator mode with `resolver { type: full, dir }`). */
  jwtStore?: (dir: string) => JwtStore;
}

export type SubscriptionListener = InterestListener;
/** Told when a client finished CONNECT (`up`) and when a connected client is gone (system account events). */
export type ConnectionListener = (c: ClientConn, up: boolean) => void;

export class Server implements ClientHost {
  options: ServerOptions;
  readonly logger: Logger;
  readonly serverId = randomServerId();
  readonly serverName: string;
  /** Every account; `accounts.global` ($G) serves clients of a server without accounts. */
  readonly accounts: AccountRegistry;
  readonly clients = new Map<number, ClientConn>();
  readonly internals = new Map<number, InternalClient>();
  readonly stats: ServerStats = {
    in_msgs: 0,
    out_msgs: 0,
    in_bytes: 0,
    out_bytes: 0,
    slow_consumers: 0,
    total_connections: 0,
  };
  readonly startTime = new Date();
  /** When the configuration was last (re)loaded: /varz config_load_time. */
  configLoadTime = this.startTime;
  authRequired: boolean;
  currentProducer: Producer | undefined;
  /** Client URLs of the whole cluster, advertised to clients in INFO (set by the cluster layer). */
  connectUrls: string[] = [];
  wsConnectUrls: string[] = [];
  /** Extra INFO fields contributed by extensions (e.g. jetstream: true, domain). */
  readonly infoExtras: Record<string, unknown> = {};
  /**
   * Set by the gateway: a request that came from another cluster crosses routes with its mapped reply
   * (`_GR_.<cluster>.<server>.<reply>`); the route that receives it hands the mapped reply here, which tracks it
   * (responses published here go back to that cluster whatever its interest) and returns the plain reply its
   * subscribers see. Undefined for a reply that is not another cluster's.
   */
  mappedReply: ((account: Account, mapped: string) => string | undefined) | undefined;
  /**
   * Set by the cluster: calls `done` once every route's peer has read what this server sent it so far (so has
   * passed on to its gateways what it learned), bounded in time; see cluster/read_barrier.ts.
   */
  afterRoutesRead: ((done: () => void) => void) | undefined;
  /** Set by the cluster: the names of the servers this one has a route to (replicated JetStream's founding waits for them). */
  routedServers: (() => string[]) | undefined;
  /** Told of every subscription added to or removed from any account. */
  readonly subscriptionListeners = new Set<InterestListener>();
  /** Like subscriptionListeners, for interest other servers may learn of (routes, gateways): no `local` subs. */
  readonly exportListeners = new Set<InterestListener>();
  readonly connectionListeners = new Set<ConnectionListener>();
  /** Extensions report their monitoring sections here (jetstream, websocket, cluster...). */
  readonly monitorSections = new Map<string, (q?: URLSearchParams) => unknown>();
  readonly #shutdownHooks: (() => Promise<void> | void)[] = [];
  readonly #lameDuckHooks: (() => Promise<void> | void)[] = [];

  readonly #transport: Transport | undefined;
  readonly #readFile: ReadText | undefined;
  /** The client listener's TLS, read and checked at start. */
  #clientTls: TlsSettings | undefined;
  /** The client TLS handshake and certificate mapping: loaded by start() only when the client listener uses TLS. */
  #clientTlsCode: ClientTlsCode | undefined;
  /** tls/config.ts, loaded by start() when any listener or remote of the options uses TLS (prepareTls needs it). */
  #tlsConfigCode: TlsConfigCode | undefined;
  #auth: AuthConfig | undefined;
  /** Operator mode: the trusted operators and the accounts the resolver knows. */
  readonly #trust: OperatorTrust | undefined;
  /** The full resolver's directory (operator mode), kept up to date by $SYS.REQ.CLAIMS.UPDATE. */
  readonly #jwtStore: JwtStore | undefined;
  /** A reload is checking live connections again: they already hold their place under connection limits. */
  #reauthorizing = false;
  #listener: Listener | undefined;
  /** Where the client listener was bound (kept after it closes). */
  #bound: { host: string; port: number } | undefined;
  #nextCid = 1;
  #pendingFlush: (ClientConn | undefined)[] = [];
  #pendingCount = 0;
  /** The other list: the two take turns, so a flush allocates no array and no closure (GC work per message). */
  #flushing: (ClientConn | undefined)[] = [];
  #flushScheduled = false;
  readonly #flushAllTask = () => this.#flushAll();
  #housekeeping: Timer | undefined;
  #running = false;
  #lameDuck = false;
  /** Started, but not taking clients yet (start's `holdClients`): those that connect wait here. */
  #holdingClients = false;
  /** Loaded by start() only when it holds clients (a server that takes them as it binds needs none of it). */
  #held: HeldConns | undefined;
  #shutdownPromise: Promise<void> | undefined;
  /** Stream and service imports between accounts (their subscriptions and pending responses). */
  #importLinks: ImportLink[] = [];

  constructor(options: ServerOptions, deps: ServerDeps = {}) {
    this.options = options;
    this.logger = deps.logger ?? silentLogger;
    this.#transport = deps.transport;
    this.#readFile = deps.readFile;
    this.serverName = options.server_name !== "" ? options.server_name : this.serverId;
    const resolver = options.operator?.resolver;
    if (resolver !== undefined && resolver !== "MEMORY") {
      if (deps.jwtStore === undefined) throw new Error("resolver: this host cannot keep a JWT directory");
      this.#jwtStore = deps.jwtStore(resolver.dir);
    }
    this.#trust = options.operator === undefined ? undefined : loadOperator(options.operator, deps.readFile, this.#jwtStore);
    // Operator mode: the account JWTs become accounts {} entries (exports, imports, JetStream) for the engine.
    this.options = this.#withJwtAccounts(options);
    for (const why of this.#trust?.accountRules().skipped ?? []) this.logger.warn(`operator mode: ${why}`);
    const accountRules = accountsOf(this.options);
    const system = this.#trust === undefined
      ? systemAccountOf(options)
      : options.system_account ?? this.#trust.systemAccount ?? systemAccountOf(options);
    this.accounts = new AccountRegistry(this, [...accountRules.keys(), ...(this.#trust?.accountKeys() ?? [])], system);
    this.#importLinks = this.#linkAccounts(accountRules);
    this.#auth = authConfigOf(options);
    this.authRequired = authRequired(this.#auth) || this.#trust !== undefined;
  }

  /**
   * The accounts' exports and imports. Only configured accounts have any, and reading them (accountsOf) took the
   * on-demand schemas, which bring the linking code: a server with the global account alone loads none of it.
   */
  #linkAccounts(rules: ReadonlyMap<string, AccountRules>): ImportLink[] {
    if (rules.size === 0) return [];
    return schemas().accountLinks.linkAccounts((n) => this.accounts.get(n), rules);
  }

  /**
   * Apply a reloaded configuration (SIGHUP). Authorization applies to connected clients at once (removed users
   * are dropped, lost subscriptions removed); listeners keep their addresses, as with nats-server.
   */
  reload(options: ServerOptions): void {
    // The client listener's certificates are read again (rotation); a bad file fails the reload and the old
    // ones stay. Turning TLS on or off changes what the listener promises in INFO: that needs a restart.
    let clientTls = this.#clientTls;
    if (this.#running && this.#transport !== undefined) {
      if ((options.tls === undefined) !== (this.#clientTls === undefined)) {
        throw new Error("tls: turning TLS on or off for client connections needs a restart");
      }
      clientTls = this.prepareTls("tls", options.tls, "server");
    }
    this.#clientTls = clientTls;
    this.options = this.#withJwtAccounts({ ...options, host: this.options.host, port: this.options.port });
    // (operator mode: the accounts the JWTs define, with their exports and imports, are part of the rules)
    const accountRules = accountsOf(this.options);
    for (const name of accountRules.keys()) this.accounts.ensure(name);
    // Exports and imports as the new file has them (a removed export must stop what crossed through it).
    for (const l of this.#importLinks) l.close();
    this.#importLinks = this.#linkAccounts(accountRules);
    this.#auth = authConfigOf(options);
    this.authRequired = authRequired(this.#auth) || this.#trust !== undefined;
    this.configLoadTime = new Date();
    // As nats-server: a lowered max_connections closes the connections over it (the newest here), then the new
    // authorization applies to the live ones (see ClientConn.reauthorize).
    const max = this.options.max_connections;
    if (max > 0 && this.clients.size > max) {
      const newest = [...this.clients.values()].sort((a, b) => b.cid - a.cid).slice(0, this.clients.size - max);
      for (const c of newest) c.closeWithError("maximum connections exceeded", "Maximum Connections Exceeded");
    }
    this.#reauthorizing = true;
    try {
      for (const c of [...this.clients.values()]) c.reauthorize();
    } finally {
      this.#reauthorizing = false;
    }
    for (const l of this.reloadListeners) l(this.options);
  }

  /** Extensions that apply a reloaded configuration themselves (JetStream: accounts' limits). */
  readonly reloadListeners = new Set<(options: ServerOptions) => void>();

  knowsUser(user: string): boolean {
    const a = this.#auth;
    return a !== undefined && (a.user === user || a.users.some((u) => u.user === user));
  }

  // ---- lifecycle ----

  get running(): boolean {
    return this.#running;
  }

  get lameDuckMode(): boolean {
    return this.#lameDuck;
  }

  /**
   * The bound client port (the real one when -1/0 was asked for). It stays the bound one after the listener
   * closes: a stopping server still says where it was in INFO and in the connect_urls its routes gossip (it said
   * "-1" there, and nats.js on Deno dropped the connection that got it: "Invalid URL: http://127.0.0.1:-1").
   */
  get clientPort(): number {
    return this.#bound?.port ?? this.options.port;
  }

  get clientHost(): string {
    return this.#bound?.host ?? this.options.host;
  }

  /**
   * `holdClients`: the client listener is bound (its port goes into the routes' INFO) but a client that connects
   * waits for its INFO until acceptClients() (held_conns.ts): a Petrel takes clients once its extensions
   * (JetStream, the routes) have started, as nats-server starts its client accept loop last. A client served
   * earlier had its JetStream requests answered "no responders" ("JetStream is not enabled") by a server that has it.
   * Without it clients are taken as soon as the listener is bound: whoever starts the server has everything else
   * ready first (a Petrel without extensions does).
   */
  async start(opts: { holdClients?: boolean } = {}): Promise<void> {
    if (this.#running) return;
    if (opts.holdClients === true) this.#held ??= new (await import("./held_conns.ts")).HeldConns();
    this.#holdingClients = opts.holdClients === true;
    if (optionsUseTls(this.options)) {
      this.#tlsConfigCode ??= await import("../tls/config.ts");
      if (this.#transport?.loadTls !== undefined) await this.#transport.loadTls();
    }
    if (this.#transport !== undefined) this.#clientTls = this.prepareTls("tls", this.options.tls, "server");
    // Only a TLS client listener runs the handshake and maps certificates (a reload cannot turn TLS on).
    if (this.#clientTls !== undefined) {
      const [upgrade, map] = await Promise.all([import("../tls/upgrade.ts"), import("../tls/map.ts")]);
      this.#clientTlsCode = { upgradeToTls: upgrade.upgradeToTls, mapCertificateToUser: map.mapCertificateToUser };
    }
    this.#running = true;
    if (this.#trust !== undefined && this.#jwtStore !== undefined) {
      const { startClaimsUpdates } = await import("../jwt/claims_update.ts");
      const stop = startClaimsUpdates(this, this.#trust, this.#jwtStore);
      this.onShutdown(stop);
    }
    if (this.#transport !== undefined) {
      const port = this.options.port < 0 ? 0 : this.options.port;
      // read per connection: a reload may have rotated the certificates
      this.#listener = await this.#transport.listen({ host: this.options.host, port }, (d) => this.acceptConnection(d, this.#clientTls));
      this.#bound = { host: this.#listener.host, port: this.#listener.port };
      this.logger.info(`Listening for client connections on ${hostPort(this.#listener.host, this.#listener.port)}`);
    }
  }

  /**
   * The write-deadline check runs while there are clients (it is about them): an idle server without any runs no
   * timer each second, whose calls would in time get the timer code compiled by Bun's baseline JIT (+1 MB resident).
   * A light timer: on Deno a runtime setInterval loads Node's timer layer (+3.3 MB idle; light_timers.ts).
   */
  #housekeepWhileClients(): void {
    if (this.clients.size === 0) {
      this.#housekeeping?.cancel();
      this.#housekeeping = undefined;
    } else if (this.#housekeeping === undefined && this.#running) {
      this.#housekeeping = lightInterval(1000, () => this.#housekeep());
    }
  }

  /** Operator mode: the account JWTs as `accounts {}` entries (exports, imports, JetStream); else unchanged. */
  #withJwtAccounts(options: ServerOptions): ServerOptions {
    if (this.#trust === undefined) return options;
    const accounts = { ...(options.accounts ?? {}) };
    for (const [key, rule] of Object.entries(this.#trust.accountRules().rules)) {
      accounts[key] = { ...(accounts[key] ?? {}), users: [], exports: rule.exports, imports: rule.imports };
      if (rule.jetstream !== undefined) accounts[key].jetstream = rule.jetstream;
    }
    return { ...options, accounts };
  }

  /**
   * Read and check a `tls {}` block for this server's transport (listeners: "server"; remotes: "client").
   * Throws an Error naming the block and file on anything wrong: a TLS listener never starts in the clear.
   */
  prepareTls(what: string, cfg: ServerOptions["tls"], role: "server" | "client", serverName?: string): TlsSettings | undefined {
    if (cfg === undefined) return undefined;
    if (this.#readFile === undefined) throw new Error(`${what}: TLS is configured but this host cannot read certificate files`);
    if (this.#transport?.prepareTls === undefined) throw new Error(`${what}: TLS is configured but the transport cannot do TLS`);
    // Every tls block is in the options start() looked at (reload cannot turn TLS on): loaded then.
    const code = this.#tlsConfigCode;
    if (code === undefined) throw new Error(`bug: ${what}: TLS settings read before Server.start loaded the TLS code`);
    const settings = code.tlsSettingsFor(cfg, role, this.#readFile, what, serverName);
    try {
      this.#transport.prepareTls(settings);
    } catch (e) {
      throw new Error(`${what}: ${e instanceof Error ? e.message.replace(/^tls: /, "") : String(e)}`);
    }
    return settings;
  }

  /** Does the client listener require TLS (for /varz)? */
  get clientTlsRequired(): boolean {
    return this.options.tls !== undefined;
  }

  onShutdown(fn: () => Promise<void> | void): void {
    this.#shutdownHooks.push(fn);
  }

  /**
   * Runs when lame-duck mode starts, before clients are drained (JetStream hands its Raft leaderships over
   * there, as nats-server does, so the drained clients' publishes find a leader elsewhere).
   */
  onLameDuck(fn: () => Promise<void> | void): void {
    this.#lameDuckHooks.push(fn);
  }

  shutdown(): Promise<void> {
    this.#shutdownPromise ??= this.#doShutdown();
    return this.#shutdownPromise;
  }

  /** Client connections waiting for the server to take clients (start's `holdClients`). */
  get clientsWaiting(): number {
    return this.#held?.size ?? 0;
  }

  /** Takes clients from now on (see start's `holdClients`). */
  acceptClients(): void {
    this.#holdingClients = false;
    this.#held?.release();
  }

  /**
   * The first step of a stop: no new client is taken (the listener closes; one that comes through another
   * listener, WebSocket say, is turned away) while the connected ones are still served.
   */
  async stopAccepting(): Promise<void> {
    this.#running = false;
    this.#held?.closeAll();
    const l = this.#listener;
    this.#listener = undefined;
    if (l !== undefined) await l.close().catch(() => {});
  }

  /** Closes every client connection (they reconnect elsewhere); routes, gateways and leafnodes stay. */
  closeClients(): void {
    for (const c of [...this.clients.values()]) c.close("Server Shutdown");
  }

  async #doShutdown(): Promise<void> {
    this.#housekeeping?.cancel();
    await this.stopAccepting();
    // Extensions first (JetStream flushes its state while its subscriptions still exist).
    for (const hook of [...this.#shutdownHooks].reverse()) {
      try {
        await hook();
      } catch (e) {
        this.logger.error(`shutdown hook failed: ${String(e)}`);
      }
    }
    this.closeClients();
    for (const c of [...this.internals.values()]) c.close();
    for (const l of this.#importLinks) l.close();
    this.#importLinks = [];
    this.logger.info("Server Exiting..");
  }

  /**
   * Lame-duck mode: stop accepting, tell clients (INFO ldm), then close them spread over
   * lame_duck_duration after lame_duck_grace_period, and shut down (`finish`: a Petrel stops its extensions
   * first, JetStream while the routes are still up, as nats-server's Shutdown after lame-duck mode does).
   */
  async lameDuck(finish: () => Promise<void> = () => this.shutdown()): Promise<void> {
    if (this.#lameDuck) return;
    this.#lameDuck = true;
    this.logger.info("Entering lame duck mode, stop accepting new clients");
    const l = this.#listener;
    this.#listener = undefined;
    if (l !== undefined) await l.close().catch(() => {});
    for (const hook of this.#lameDuckHooks) {
      try {
        await hook();
      } catch (e) {
        this.logger.error(`lame duck hook failed: ${String(e)}`);
      }
    }
    for (const c of this.clients.values()) if (c.protocol >= 1) c.sendInfo(this.clientInfo(c));
    const o = this.options;
    await sleep(o.lame_duck_grace_period);
    const clients = [...this.clients.values()];
    const budget = Math.max(0, o.lame_duck_duration - o.lame_duck_grace_period);
    const step = clients.length > 0 ? Math.min(budget / clients.length, 1000) : 0;
    for (const c of clients) {
      c.close("Server Shutdown");
      if (step > 0) await sleep(step);
    }
    await finish();
  }

  #housekeep(): void {
    const now = Date.now();
    for (const c of this.clients.values()) c.checkWriteDeadline(now);
  }

  // ---- connections ----

  /** `tls`: the listener requires TLS; the INFO says so and the connection is upgraded right after it. */
  acceptConnection(duplex: Duplex, tls?: TlsSettings): ConnHandler {
    if (this.#holdingClients && this.#running && !this.#lameDuck && this.#held !== undefined) {
      const held = this.#held.hold(duplex, this.options.max_connections, () => this.acceptConnection(duplex, tls));
      if (held !== undefined) return held;
    }
    const cid = this.#nextCid++;
    const c = new ClientConn(cid, duplex, this);
    c.tlsRequired = tls !== undefined;
    if (!this.#running || this.#lameDuck || this.#holdingClients) {
      queueMicrotask(() => c.close("Server Shutdown"));
      return c;
    }
    this.stats.total_connections++;
    if (this.clients.size >= this.options.max_connections) {
      c.out.text(`INFO ${this.clientInfo(c)}\r\n`);
      queueMicrotask(() => c.closeWithError("maximum connections exceeded", "Maximum Connections Exceeded"));
      return c;
    }
    this.clients.set(cid, c);
    this.#housekeepWhileClients();
    this.logger.debug(`${duplex.info.remoteHost}:${duplex.info.remotePort} - cid:${cid} - Client connection created`);
    c.begin(this.clientInfo(c));
    if (tls !== undefined) this.#startClientTls(c, tls);
    return c;
  }

  clientConnected(c: ClientConn): void {
    for (const l of this.connectionListeners) l(c, true);
  }

  #startClientTls(c: ClientConn, tls: TlsSettings): void {
    const who = `${c.duplex.info.remoteHost}:${c.duplex.info.remotePort} - cid:${c.cid}`;
    this.logger.debug(`${who} - Starting TLS client connection handshake`);
    c.flush(); // the INFO goes out in the clear, before the handshake
    this.#tlsCode().upgradeToTls(c.duplex, tls, this.options.tls?.timeout ?? 0, {
      onSecure: (info) => this.logger.debug(`${who} - TLS handshake complete (${info.version}, ${info.cipher})`),
      onFailure: (reason) => {
        this.logger.error(`${who} - TLS handshake error: ${reason}`);
        c.close("TLS Handshake Failure");
      },
    });
  }

  #tlsCode(): ClientTlsCode {
    if (this.#clientTlsCode === undefined) throw new Error("bug: a TLS client connection on a server started without client TLS");
    return this.#clientTlsCode;
  }

  clientClosed(c: ClientConn): void {
    if (this.clients.delete(c.cid)) {
      this.#housekeepWhileClients();
      this.logger.debug(`${c.duplex.info.remoteHost}:${c.duplex.info.remotePort} - cid:${c.cid} - Client connection closed: ${c.closeReason}`);
      for (const l of this.connectionListeners) l(c, false);
    }
  }

  /**
   * A client inside the server, bound to `account` (default `$G`; created if it does not exist): it
   * subscribes and publishes within that account only. `local`: its subscriptions are not announced to
   * other servers.
   */
  createInternalClient(name: string, opts: { account?: string; local?: boolean } = {}): InternalClient {
    const account = opts.account === undefined ? this.accounts.global : this.accounts.ensure(opts.account);
    const c = new InternalClient(this.#nextCid++, name, account, this, opts.local ?? false);
    this.internals.set(c.cid, c);
    return c;
  }

  internalClosed(c: InternalClient): void {
    this.internals.delete(c.cid);
  }

  /**
   * Authenticate a CONNECT. `kind` is the transport: WebSocket clients answer to `websocket { authorization }`
   * when it names a user or token (they are then in `$G`), and sign in as `websocket { no_auth_user }` when they
   * present no credentials, as nats-server 2.9 does.
   */
  authenticate(c: ConnectOptions, nonce?: string, tls?: TlsInfo, kind?: string): AuthOutcome {
    const trust = this.#trust;
    if (trust !== undefined) {
      // Operator mode: only user JWTs, checked along the operator -> account -> user chain.
      const r = trust.authenticate(c.jwt, c.sig, nonce, Date.now());
      if (!r.ok) {
        this.logger.debug(`operator mode: ${r.error}`);
        return { ok: false };
      }
      const u = r.value;
      if (u.accountMaxConnections >= 0 && !this.#reauthorizing) {
        let n = 0;
        for (const x of this.clients.values()) if (x.state === "connected" && x.account.name === u.account) n++;
        if (n >= u.accountMaxConnections) return { ok: false, error: "maximum account active connections exceeded" };
      }
      this.accounts.ensure(u.account);
      const out: AuthOutcome = { ok: true, user: u.user, account: u.account, issuedAt: u.issuedAt };
      if (u.permissions !== undefined) out.permissions = u.permissions;
      if (u.expiresAt !== undefined) out.expiresAt = u.expiresAt;
      out.maxSubscriptions = u.maxSubscriptions;
      out.maxPayload = u.maxPayload;
      return out;
    }
    if (kind === "ws" && this.options.websocket !== undefined) {
      const ws = this.options.websocket;
      const wa = ws.authorization;
      const noCreds = c.user === undefined && c.auth_token === undefined && c.nkey === undefined;
      if (noCreds && ws.no_auth_user !== undefined && this.#auth !== undefined) {
        return authenticate({ ...this.#auth, no_auth_user: ws.no_auth_user }, c, nonce);
      }
      if (wa !== undefined && (wa.user !== undefined || wa.token !== undefined)) {
        return authenticate({ user: wa.user, password: wa.password, token: wa.token, users: [] }, c, nonce);
      }
    }
    const auth = this.#auth;
    // verify_and_map: the verified certificate names the user; no password is asked for.
    if (this.options.tls?.verify_and_map === true && tls !== undefined && auth !== undefined && auth.users.length > 0) {
      if (tls.peer === undefined) return { ok: false };
      const name = this.#tlsCode().mapCertificateToUser(tls.peer, auth.users.map((u) => u.user));
      const u = name === undefined ? undefined : auth.users.find((x) => x.user === name);
      return u === undefined ? { ok: false } : { ok: true, user: u.user, permissions: u.permissions, account: u.account };
    }
    return authenticate(auth, c, nonce);
  }

  /** Must a client of this transport kind authenticate? (WebSocket has its own `authorization`.) */
  authRequiredFor(kind: string): boolean {
    const wa = this.options.websocket?.authorization;
    if (kind === "ws" && wa !== undefined && (wa.user !== undefined || wa.token !== undefined)) return true;
    return this.authRequired;
  }

  /** How long a client of this transport kind has to authenticate, ms. */
  authTimeoutFor(kind: string): number {
    const t = kind === "ws" ? this.options.websocket?.authorization?.timeout : undefined;
    return t ?? this.options.auth_timeout;
  }

  /** INFO carries a per-connection nonce when some user signs in with an nkey. */
  get wantsNonce(): boolean {
    return this.#trust !== undefined || usesNkeys(this.#auth);
  }

  // ---- INFO ----

  /** `tls`: the INFO of a TLS listener (tls_required, and tls_verify when client certificates are required). */
  infoObject(tls = false): Record<string, unknown> {
    const o = this.options;
    const info: Record<string, unknown> = {
      server_id: this.serverId,
      server_name: this.serverName,
      version: VERSION,
      proto: 1,
      go: `petrel${PETREL_VERSION}`,
      host: o.host,
      port: this.clientPort,
      headers: true,
    };
    if (tls) {
      info.tls_required = true;
      if (o.tls?.verify === true) info.tls_verify = true;
    }
    info.max_payload = o.max_payload;
    if (this.authRequired) info.auth_required = true;
    Object.assign(info, this.infoExtras);
    if (this.connectUrls.length > 0) info.connect_urls = this.connectUrls;
    if (this.wsConnectUrls.length > 0) info.ws_connect_urls = this.wsConnectUrls;
    if (this.#lameDuck) info.ldm = true;
    return info;
  }

  clientInfo(c: ClientConn): string {
    const plain = this.#plainClientInfo(c);
    if (plain !== undefined) return plain;
    const info = this.infoObject(c.tlsRequired);
    if (this.authRequiredFor(c.duplex.info.kind)) info.auth_required = true;
    else delete info.auth_required;
    info.client_id = c.cid;
    info.client_ip = c.duplex.info.remoteHost;
    if (this.wantsNonce) {
      c.nonce ??= randomToken(22);
      info.nonce = c.nonce;
    }
    return JSON.stringify(info);
  }

  /**
   * The INFO of a plain listener (no TLS, no auth, no nonce, no extensions' fields, no connect URLs, not in lame
   * duck) as a template: the same text JSON.stringify gives for infoObject's fields in their order
   * (test/server/info_text.test.ts compares them), or undefined when any of those is there or a configured
   * string needs escaping. Why: a plain server's first client (or port probe) is otherwise the first use of
   * JSON.stringify, whose code then stays resident on Bun (~0.2 MB of the idle footprint, bench/RESULTS.md
   * "bunidle2").
   */
  #plainClientInfo(c: ClientConn): string | undefined {
    const o = this.options;
    if (c.tlsRequired || this.authRequired || this.authRequiredFor(c.duplex.info.kind) || this.wantsNonce || this.#lameDuck) return undefined;
    if (this.connectUrls.length > 0 || this.wsConnectUrls.length > 0) return undefined;
    for (const _ in this.infoExtras) return undefined;
    const host = o.host;
    const ip = c.duplex.info.remoteHost;
    if (typeof host !== "string" || !plainJsonText(host) || !plainJsonText(this.serverName) || !plainJsonText(ip)) return undefined;
    if (!Number.isSafeInteger(this.clientPort) || !Number.isSafeInteger(o.max_payload)) return undefined;
    return `{"server_id":"${this.serverId}","server_name":"${this.serverName}","version":"${VERSION}","proto":1,"go":"petrel${PETREL_VERSION}","host":"${host}","port":${this.clientPort},"headers":true,"max_payload":${o.max_payload},"client_id":${c.cid},"client_ip":"${ip}"}`;
  }

  /** Re-send INFO to clients that understand async INFO (after connect_urls change). */
  broadcastInfo(): void {
    for (const c of this.clients.values()) {
      if (c.protocol >= 1 && c.state === "connected") c.sendInfo(this.clientInfo(c));
    }
  }

  // ---- accounts ----

  /** The account a client binds to: the one its user belongs to, `$G` without one. */
  accountFor(name: string | undefined): Account {
    if (name === undefined) return this.accounts.global;
    const a = this.accounts.get(name);
    if (a === undefined) throw new Error(`invariant: user bound to unknown account "${name}"`);
    return a;
  }

  scheduleFlush(c: ClientConn): void {
    this.#pendingFlush[this.#pendingCount++] = c;
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    queueMicrotask(this.#flushAllTask);
  }

  #flushAll(): void {
    this.#flushScheduled = false;
    const list = this.#pendingFlush;
    const n = this.#pendingCount;
    this.#pendingFlush = this.#flushing;
    this.#flushing = list;
    this.#pendingCount = 0;
    // A flush may schedule the next one (into the other list) but never runs one itself. The lists keep their
    // storage (a count, slots cleared, instead of emptying them: an emptied array allocates again on its next push).
    for (let i = 0; i < n; i++) {
      const c = list[i] as ClientConn;
      list[i] = undefined;
      c.flush();
    }
  }

  /** Subscriptions in every account (for /varz and /subsz). */
  get numSubscriptions(): number {
    let n = 0;
    for (const a of this.accounts) n += a.subscriptionCount;
    return n;
  }
}

function authConfigOf(options: ServerOptions): AuthConfig | undefined {
  const a = options.authorization;
  const inAccounts: AuthUser[] = accountUsers(accountsOf(options));
  if (a === undefined && inAccounts.length === 0) return undefined;
  return {
    user: a?.user,
    password: a?.password,
    token: a?.token,
    users: [...(a?.users ?? []), ...inAccounts],
    permissions: a?.permissions,
    no_auth_user: options.no_auth_user,
  };
}

/** The operator JWTs (inline, or read from their files) and the resolver: throws naming what is wrong. */
function loadOperator(o: NonNullable<ServerOptions["operator"]>, read: ReadText | undefined, store?: JwtStore): OperatorTrust {
  const { isJwtText, jwtFromFile, OperatorTrust } = authLibs().operator;
  const jwts = o.operators.map((v) => {
    if (isJwtText(v)) return v.trim();
    if (read === undefined) throw new Error(`operator: cannot read "${v}" on this host`);
    let text: string | undefined;
    try {
      text = read(v);
    } catch {
      text = undefined;
    }
    if (text === undefined) throw new Error(`operator: cannot read the operator JWT file "${v}"`);
    const jwt = jwtFromFile(text);
    if (jwt === undefined) throw new Error(`operator: "${v}" holds no JWT`);
    return jwt;
  });
  let stored: Record<string, string> = {};
  if (store !== undefined) {
    try {
      stored = store.load();
    } catch (e) {
      throw new Error(`resolver: cannot read the JWT directory: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return new OperatorTrust({ operators: jwts, preload: o.resolver_preload }, Date.now(), stored);
}

export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A string JSON.stringify writes as itself between quotes (no quote, backslash, control character or surrogate). */
function plainJsonText(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 0x20 || ch === 0x22 || ch === 0x5c || (ch >= 0xd800 && ch <= 0xdfff)) return false;
  }
  return true;
}

/**
 * Does anything in the options ask for TLS: a `tls` block at any level (client, cluster, gateway and its remotes,
 * leafnodes and their remotes, websocket) or an HTTPS monitoring port? Server.start loads the TLS code (ours and
 * the transport's) only then: a start without TLS loads none of it.
 */
export function optionsUseTls(options: object): boolean {
  const o = options as { https_port?: number };
  if (o.https_port !== undefined && o.https_port !== 0) return true;
  const walk = (v: unknown, depth: number): boolean => {
    if (depth > 8 || v === null || typeof v !== "object") return false;
    if (Array.isArray(v)) return v.some((x) => walk(x, depth + 1));
    for (const [k, x] of Object.entries(v)) {
      if (k === "tls" && x !== undefined && x !== null && x !== false) return true;
      if (walk(x, depth + 1)) return true;
    }
    return false;
  };
  return walk(options, 0);
}
