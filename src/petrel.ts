/**
 * Assembles a whole broker from options and the runtime's services: the core server, the monitoring app,
 * and the extensions (cluster, JetStream, WebSocket) as they are configured. Runtime-neutral: the entry
 * point (mod.ts) passes in what the runtime provides.
 */
import type { ServerOptions } from "./config/schema.ts";
import type { Logger } from "./log/logger.ts";
import { silentLogger } from "./log/logger.ts";
import type { createMonitorApp } from "./monitor/app.ts";
import type { MonitorEndpoints } from "./monitor/endpoints.ts";
import type { EndpointAnswer, EndpointFetch } from "./monitor/endpoint_fetch.ts";
import type { MonitorState } from "./monitor/monitor_state.ts";
import type { ClientConn } from "./server/client.ts";
import type { VarzContext } from "./monitor/varz.ts";
import { SystemServices, type SystemServicesOptions } from "./system/services.ts";
import type { FetchHandler, HttpServer, PlainAnswer, PlainGet, ServeHttpOptions } from "./runtime/types.ts";
import { hostPort, Server } from "./server/server.ts";
import type { Transport } from "./transport/types.ts";
import type { JwtStore } from "./jwt/store.ts";

export interface PetrelServices {
  transport: Transport;
  serveHttp?: (opts: ServeHttpOptions, fetch: FetchHandler) => Promise<HttpServer>;
  logger?: Logger;
  /** Reads files named by the configuration (TLS certificates); undefined when a file does not exist. */
  readFile?: (path: string) => string | undefined;
  /** The full resolver's JWT directory (operator mode). */
  jwtStore?: (dir: string) => JwtStore;
  /** Resident memory in bytes, for /varz. */
  memory?: () => number;
  /** Every IP address of the host's interfaces: a wildcard listener advertises the reachable ones. */
  interfaceAddresses?: () => string[];
  /** Timing of the system account's heartbeats (tests shorten them). */
  system?: SystemServicesOptions;
  /** Extensions started after the core server is listening (JetStream, WebSocket, cluster...). */
  extensions?: PetrelExtension[];
}

/** Something that attaches to a running server and may add listeners (reported in the ports file). */
export interface PetrelExtension {
  readonly name: string;
  start(server: Server, ctx: { logger: Logger; services: PetrelServices }): Promise<ExtensionHandle | void>;
}

export interface ExtensionHandle {
  /** URLs to advertise in the ports file, keyed like nats-server's ("cluster", "websocket", "gateway", "leafnode"). */
  ports?: Record<string, string[]>;
  /**
   * The first part of a stop, while clients are still connected (the listener is closed): JetStream hands its
   * Raft leaderships over here, so the publishes in flight are answered before the clients go.
   */
  handOff?(opts?: StopOptions): Promise<void>;
  /** After the clients have gone. */
  stop?(opts?: StopOptions): Promise<void>;
}

export interface StopOptions {
  /**
   * Hand the Raft leaderships this server holds to a peer before stopping (default true: a rolling restart
   * loses no publish). False when every server of the cluster is being stopped (an embedder tearing a whole
   * cluster down): nobody is left to take them, and a peer stopped a moment ago still looks like a successor.
   */
  handOff?: boolean;
}

/** The ports file nats-server writes with ports_file_dir; tools look for these keys. */
export interface PortsInfo {
  nats: string[];
  monitoring?: string[];
  cluster?: string[];
  websocket?: string[];
  gateway?: string[];
  leafnode?: string[];
  [k: string]: string[] | undefined;
}

export class Petrel {
  readonly server: Server;
  readonly options: ServerOptions;
  readonly #services: PetrelServices;
  readonly #logger: Logger;
  /**
   * What monitoring counts from the start (loadMonitorState); the endpoints that read it load on first use
   * (loadEndpoints). Undefined until loaded: connection events wait in #monitorEvents meanwhile.
   */
  #monitorState: MonitorState | undefined;
  #monitorLoading: Promise<MonitorState> | undefined;
  /** Connection events from before the monitor state was loaded, with their time: handed over in order. */
  #monitorEvents: { c: ClientConn; up: boolean; at: number }[] = [];
  #endpoints: Promise<MonitorEndpoints> | undefined;
  readonly #varzContext: VarzContext;
  #http: HttpServer | undefined;
  /** The monitor listens with HTTPS (https_port / -ms). */
  #https = false;
  #handles: ExtensionHandle[] = [];
  #system: SystemServices | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: ServerOptions, services: PetrelServices) {
    this.options = options;
    this.#services = services;
    this.#logger = services.logger ?? silentLogger;
    this.server = new Server(options, { transport: services.transport, logger: this.#logger, readFile: services.readFile, jwtStore: services.jwtStore });
    // Read live: the HTTP port is known only once the listener is up.
    const self = this;
    this.#varzContext = {
      get httpHost() {
        return self.#http?.host ?? options.http_host;
      },
      get httpPort() {
        return self.#https ? 0 : self.#http?.port ?? options.http_port;
      },
      memory: services.memory,
    };
    // Before anything else listens to connections (the system services' events read the counters after them).
    this.server.connectionListeners.add((c, up) => {
      const state = this.#monitorState;
      if (state !== undefined) return state.connectionEvent(c, up, Date.now());
      this.#monitorEvents.push({ c, up, at: Date.now() });
      void this.loadMonitorState().catch(() => {});
    });
    // Accounts a reload adds may have clients whose events the system services number at once (#stat there).
    this.server.reloadListeners.add((o) => {
      if (mayHaveAccountClients(o)) void this.loadMonitorState().catch(() => {});
    });
  }

  /**
   * What monitoring counts from the start, loaded on demand: at start when clients may sign in to accounts (the
   * system services' events take their account's numbers when they happen), else with the first connection event
   * (a server without accounts: until then there is nothing to count) or the first monitoring request. Events
   * from before it was loaded are handed over in order, with their time.
   */
  loadMonitorState(): Promise<MonitorState> {
    this.#monitorLoading ??= import("./monitor/monitor_state.ts").then((m) => {
      const state = m.monitorStateFor(this.server);
      const earlier = this.#monitorEvents;
      this.#monitorEvents = [];
      for (const e of earlier) state.connectionEvent(e.c, e.up, e.at);
      this.#monitorState = state;
      return state;
    }, (e) => {
      // What waited is dropped; the next event tries again.
      this.#monitorLoading = undefined;
      this.#monitorEvents = [];
      this.#logger.error(`monitoring state failed to load: ${e instanceof Error ? e.message : String(e)}`);
      throw e;
    });
    return this.#monitorLoading;
  }

  get clientUrl(): string {
    return `nats://${hostPort(advertiseHost(this.server.clientHost), this.server.clientPort)}`;
  }

  get monitorUrl(): string | undefined {
    if (this.#http === undefined) return undefined;
    return `${this.#https ? "https" : "http"}://${hostPort(advertiseHost(this.#http.host), this.#http.port)}`;
  }

  /**
   * The monitoring endpoints, shared by the HTTP app and the system account's services: loaded with the first
   * request of either (a plain start loads no endpoint code).
   */
  loadEndpoints(): Promise<MonitorEndpoints> {
    return this.#endpoints ??= Promise.all([import("./monitor/endpoints.ts"), this.loadMonitorState()])
      .then(([m, state]) => m.createMonitorEndpoints(this.server, this.#varzContext, state));
  }

  /** The monitoring app's fetch handler (also usable without a listener, e.g. in a serverless host). */
  readonly monitorFetch: FetchHandler = (req) => this.#serveMonitor(req);
  /** The same answers for a host that writes them without Request/Response objects (http_lite on Deno). */
  readonly monitorPlainGet: PlainGet = (target) => {
    const p = this.#endpointPlain;
    if (p !== undefined) return p(target);
    return this.#loadEndpointAnswers().then(() => this.#endpointPlain!(target));
  };
  #endpointFetch: EndpointFetch | undefined;
  #endpointPlain: ((target: string) => PlainAnswer | undefined) | undefined;
  #endpointAnswersLoading: Promise<void> | undefined;
  #loadEndpointAnswers(): Promise<void> {
    return this.#endpointAnswersLoading ??= Promise.all([import("./monitor/endpoint_fetch.ts"), this.loadEndpoints()]).then(([m, endpoints]) => {
      const answer: EndpointAnswer = m.createEndpointAnswer(endpoints);
      this.#endpointFetch = m.createEndpointFetch(answer);
      this.#endpointPlain = m.plainEndpointGet(answer);
    });
  }
  #appInstance: ReturnType<typeof createMonitorApp> | undefined;
  #appLoading: Promise<ReturnType<typeof createMonitorApp>> | undefined;
  /** Whether the monitoring app (hono, the dashboard) has been loaded: polling the endpoints never loads it. */
  get monitorAppLoaded(): boolean {
    return this.#appInstance !== undefined;
  }
  #serveMonitor(req: Request): Response | Promise<Response> {
    // A GET of an endpoint (what a metrics agent polls) is answered without the app (monitor/endpoint_fetch.ts):
    // hono and the dashboard load only for the rest.
    const f = this.#endpointFetch;
    if (f !== undefined) return f(req) ?? this.#app(req);
    return this.#loadEndpointAnswers().then(() => this.#endpointFetch!(req) ?? this.#app(req));
  }
  #app(req: Request): Response | Promise<Response> {
    if (this.#appInstance !== undefined) return this.#appInstance.fetch(req);
    // The HTTP app (hono, the dashboard) is loaded on the first request it serves: a server nobody looks at
    // through a browser never holds it.
    this.#appLoading ??= Promise.all([import("./monitor/app.ts"), this.loadEndpoints()]).then(([m, endpoints]) => {
      this.#appInstance ??= m.createMonitorApp(this.server, this.#varzContext, endpoints);
      return this.#appInstance;
    });
    return this.#appLoading.then((app) => app.fetch(req));
  }

  async start(): Promise<void> {
    const extensions = this.#services.extensions ?? [];
    // With extensions (JetStream, the routes...) the client port is bound first (it goes into the routes' INFO) and
    // clients wait until every extension has started (Server.start's holdClients); so with HTTPS monitoring, which
    // uses the TLS code the server loads as it starts. Without either, the system services and the monitoring port
    // start first and the server takes clients as it binds, as nats-server binds its client port last: nothing is
    // held, and none of the holding code is loaded.
    const hold = extensions.length > 0 || (this.options.https_port ?? 0) !== 0;
    if (hold) await this.server.start({ holdClients: true });
    if (mayHaveAccountClients(this.options)) await this.loadMonitorState();
    // The system account's services, as an internal client of that account (nats-server runs them always).
    const sys = this.server.accounts.system.name;
    const self = this;
    const monitor = {
      get state() {
        return self.#monitorState;
      },
      load: () => this.loadEndpoints(),
    };
    this.#system = new SystemServices(this.server, monitor, this.server.createInternalClient("$SYS services", { account: sys }), this.#services.system);
    this.#system.start();
    try {
      await this.#startMonitor();
      if (!hold) await this.server.start();
    } catch (e) {
      // A port that cannot be bound: what started before it stops (their timers would outlive a failed start).
      if (!hold) {
        await this.#system.stop();
        await this.#http?.close().catch(() => {});
        this.#http = undefined;
      }
      throw e;
    }
    for (const ext of extensions) {
      const h = await ext.start(this.server, { logger: this.#logger, services: this.#services });
      if (h) this.#handles.push(h);
    }
    this.server.acceptClients();
    this.#logger.info("Server is ready");
  }

  /** The monitoring port (http_port, or https_port with the client listener's certificate), when configured. */
  async #startMonitor(): Promise<void> {
    const o = this.options;
    const httpsPort = o.https_port ?? 0;
    if (httpsPort !== 0) {
      // HTTPS monitoring uses the client listener's certificate, as nats-server does; never falls back to HTTP.
      if (o.http_port !== 0) throw new Error(`can't specify both HTTP (${o.http_port}) and HTTPs (${httpsPort}) ports`);
      if (this.#services.serveHttp === undefined) throw new Error("https_port: this host cannot serve HTTPS");
      const tls = this.server.prepareTls("https_port (tls)", o.tls ?? missingTls(), "server");
      if (tls?.cert === undefined || tls.key === undefined) throw new Error("https_port: TLS cert and key required for HTTPS");
      this.#https = true;
      const port = httpsPort < 0 ? 0 : httpsPort;
      this.#http = await this.#services.serveHttp({ host: o.http_host, port, tls: { cert: tls.cert, key: tls.key }, plain: this.monitorPlainGet }, this.monitorFetch);
      this.#logger.info(`Starting https monitor on ${hostPort(this.#http.host, this.#http.port)}`);
    } else if (o.http_port !== 0 && this.#services.serveHttp !== undefined) {
      const port = o.http_port < 0 ? 0 : o.http_port;
      this.#http = await this.#services.serveHttp({ host: o.http_host, port, plain: this.monitorPlainGet }, this.monitorFetch);
      this.#logger.info(`Starting http monitor on ${hostPort(this.#http.host, this.#http.port)}`);
    }
  }

  ports(): PortsInfo {
    const p: PortsInfo = { nats: [this.clientUrl] };
    const m = this.monitorUrl;
    if (m !== undefined) p.monitoring = [m];
    for (const h of this.#handles) {
      for (const [k, v] of Object.entries(h.ports ?? {})) p[k] = [...(p[k] ?? []), ...v];
    }
    return p;
  }

  /** Stops the server (once; a later call gets the first one's promise, whatever its options). */
  stop(opts: StopOptions = {}): Promise<void> {
    this.#stopped ??= this.#doStop(opts);
    return this.#stopped;
  }

  /**
   * Lame-duck mode (SIGUSR2): no new client, JetStream's leaderships handed over, the clients closed over
   * lame_duck_duration, then the stop (JetStream before the routes, so its last flush reaches the peers).
   */
  lameDuck(): Promise<void> {
    return this.server.lameDuck(() => this.stop());
  }

  async #doStop(opts: StopOptions): Promise<void> {
    // The system services first: their SHUTDOWN event still reaches other servers over the routes.
    await this.#system?.stop();
    // No new client; the connected ones stay through the hand-off, then go (they reconnect to other servers)
    // before JetStream and the routes stop: one still here then would have its publishes answered by a server
    // without JetStream ("no responders", which clients read as "JetStream is not enabled"). nats-server's
    // lame-duck mode has this order; its Shutdown closes clients and routes together.
    await this.server.stopAccepting();
    const handles = [...this.#handles].reverse();
    for (const h of handles) await h.handOff?.(opts).catch(() => {});
    this.server.closeClients();
    for (const h of handles) await h.stop?.(opts).catch(() => {});
    await this.server.shutdown();
    if (this.#http !== undefined) await this.#http.close().catch(() => {});
  }
}

/**
 * Can clients of these options sign in to an account other than the global one (configured accounts, operator
 * mode)? The system services report those clients' connections with their account's numbers at that moment.
 */
function mayHaveAccountClients(o: ServerOptions): boolean {
  return o.operator !== undefined || (o.accounts !== undefined && Object.keys(o.accounts).length > 0);
}

function missingTls(): never {
  throw new Error("https_port: TLS cert and key required for HTTPS (a tls {} block or --tlscert/--tlskey)");
}

/** A wildcard bind address is reached through loopback. */
function advertiseHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}
