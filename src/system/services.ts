/**
 * The system account's services: an internal client of the system account that answers `$SYS.REQ.*`
 * requests with the monitoring endpoints (the same functions HTTP serves), publishes connect/disconnect and
 * account-connection events, and sends the periodic `STATSZ` heartbeat. It subscribes and publishes like any
 * other client, so across a cluster every server's services hear a PING through the routes and answer it.
 *
 * This file is what must exist from the start: the subscriptions (a request finds its responder, as with
 * nats-server), the connection listener, the heartbeat timers and the SHUTDOWN goodbye. The work itself
 * (responder.ts, with the monitoring endpoints and the event builders, ~60 KB of source) loads on first use:
 * what happens until it is there waits in order, with its time and numbers taken when it happened. A plain
 * start that nobody asks never loads it (Bun idle -0.8 MB).
 */
import type { ClientConn } from "../server/client.ts";
import type { InternalClient, InternalMsg } from "../server/internal.ts";
import type { Server } from "../server/server.ts";
import type { AccountStat } from "../monitor/account_stats.ts";
import { accountOfClient, clientsOf, GLOBAL_ACCOUNT, leafCounts, SYSTEM_IMPORTS_CLIENT } from "../monitor/accounts_view.ts";
import type { MonitorEndpoints } from "../monitor/endpoints.ts";
import type { MonitorState } from "../monitor/monitor_state.ts";
import type { Responder } from "./responder.ts";
import type { ServerInfo, ServerInfoStamp } from "./server_info.ts";
import { ACCOUNT_ENDPOINTS, SERVER_ENDPOINT_NAMES, subjects } from "./subjects.ts";
import { lightInterval, lightTimeout } from "../runtime/light_timers.ts";
import type { Timer } from "../runtime/clock.ts";

export interface SystemServicesOptions {
  /** How often accounts with connections repeat their SERVER.CONNS count (nats-server: 30 s). */
  accountConnsIntervalMs?: number;
  /** The STATSZ heartbeat period (nats-server: 10 s); the first ones come faster, from 250 ms doubling. */
  statszIntervalMs?: number;
  statszFirstMs?: number;
  now?: () => Date;
}

/**
 * The monitoring the services answer from: the counters kept since start, and the endpoints, loaded on demand.
 * A Petrel loads the counters at start when clients may sign in to accounts, else on demand (petrel.ts): undefined
 * until then; the endpoints come with them.
 */
export interface SystemMonitor {
  readonly state: MonitorState | undefined;
  load(): Promise<MonitorEndpoints>;
}

type Waiting = { what: string; run: (r: Responder) => void };

const enc = new TextEncoder();

export class SystemServices {
  readonly #server: Server;
  readonly #monitor: SystemMonitor;
  readonly #client: InternalClient;
  /** One per other account, answering that account's own requests. */
  readonly #accountClients = new Map<string, InternalClient>();
  /** Every message's `server` block, numbered: shared with the responder, loaded with it (#loadStamp). */
  #stamp: ServerInfoStamp | undefined;
  readonly #now: () => Date;
  readonly #interval: number;
  #nextDelay: number;
  // Light timers: they run while the server idles (a runtime timer on Deno loads Node's timers, light_timers.ts).
  #timer: Timer | undefined;
  #connsTimer: Timer | undefined;
  readonly #connsInterval: number;
  /** Clients we announced, so a disconnect is only reported for a connect that was. */
  readonly #announced = new Set<ClientConn>();
  readonly #listener = (c: ClientConn, up: boolean) => this.#safely("connection event", () => (up ? this.#clientUp(c) : this.#clientDown(c)));
  #stopped = false;
  #responder: Responder | undefined;
  #loading: Promise<void> | undefined;
  /** What arrived before the responder was loaded, in order. */
  #waiting: Waiting[] = [];

  constructor(server: Server, monitor: SystemMonitor, client: InternalClient, opts: SystemServicesOptions = {}) {
    this.#server = server;
    this.#monitor = monitor;
    this.#client = client;
    this.#now = opts.now ?? (() => new Date());
    this.#interval = opts.statszIntervalMs ?? 10_000;
    this.#connsInterval = opts.accountConnsIntervalMs ?? 30_000;
    this.#nextDelay = Math.min(opts.statszFirstMs ?? 250, this.#interval);
  }

  start(): void {
    const c = this.#client;
    const id = this.#server.serverId;
    // One batch (InternalClient.subscribeAll): ~30 single subscribes at every start get the subscribe path compiled
    // by Bun's baseline JIT, code that then stays resident.
    const subs: { subject: string; handler: (m: InternalMsg) => void }[] = [
      { subject: "$SYS.REQ.SERVER.PING", handler: (m) => this.#request(m, c, (r, held) => r.serverRequest("STATSZ", held)) },
    ];
    for (const name of SERVER_ENDPOINT_NAMES) {
      const handler = (m: InternalMsg) => this.#request(m, c, (r, held) => r.serverRequest(name, held));
      subs.push({ subject: `$SYS.REQ.SERVER.PING.${name}`, handler }, { subject: `$SYS.REQ.SERVER.${id}.${name}`, handler });
    }
    for (const name of ACCOUNT_ENDPOINTS) {
      subs.push({ subject: `$SYS.REQ.ACCOUNT.*.${name}`, handler: (m) => this.#request(m, c, (r, held) => r.accountRequest(name, held)) });
    }
    c.subscribeAll(subs);
    for (const account of this.#server.accounts) this.#startAccountImports(account.name);
    this.#server.connectionListeners.add(this.#listener);
    this.#scheduleStatsz();
    this.#connsTimer = lightInterval(this.#connsInterval, () => this.#safely("SERVER.CONNS heartbeat", () => this.#accountConnsHeartbeat()));
  }

  /** The periodic SERVER.CONNS of every account (but `$G`) that has connections here. */
  #accountConnsHeartbeat(): void {
    const accounts = new Set(clientsOf(this.#server).map(accountOfClient));
    accounts.delete(GLOBAL_ACCOUNT);
    const at = this.#now();
    for (const account of accounts) {
      const stat = this.#stat(account);
      this.#use("SERVER.CONNS heartbeat", (r) => r.accountConns(account, at, stat ?? this.#statLoaded(account)));
    }
  }

  /**
   * nats-server gives every account service imports from the system account, so its users can ask about
   * their own account: `$SYS.REQ.SERVER.PING.CONNZ` and `$SYS.REQ.ACCOUNT.PING.CONNZ` answer with the account's
   * connections, `$SYS.REQ.ACCOUNT.PING.STATZ` with its statistics, from every server. Here an internal client
   * in the account answers the same subjects (announced to routes, so every server answers as well).
   */
  #startAccountImports(account: string): void {
    if (this.#accountClients.has(account) || account === this.#server.accounts.system.name) return;
    const c = this.#server.createInternalClient(SYSTEM_IMPORTS_CLIENT, { account });
    this.#accountClients.set(account, c);
    const bound = { account, via: c };
    c.subscribeAll([
      { subject: "$SYS.REQ.ACCOUNT.PING.CONNZ", handler: (m) => this.#request(m, c, (r, held) => r.accountRequest("CONNZ", held, bound)) },
      { subject: "$SYS.REQ.SERVER.PING.CONNZ", handler: (m) => this.#request(m, c, (r, held) => r.accountRequest("CONNZ", held, bound)) },
      { subject: "$SYS.REQ.ACCOUNT.PING.STATZ", handler: (m) => this.#request(m, c, (r, held) => r.accountRequest("STATZ", held, bound)) },
    ]);
  }

  /**
   * Says goodbye on `$SYS.SERVER.<id>.SHUTDOWN` (other servers forget this one), then stops. With nobody to hear it
   * (#mayBeHeard: no link, no subscriber) it is not built; one heard before the responder loaded waits for the
   * `server` block's code (server_info.ts), which a server nobody asked never loads.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    this.#connsTimer?.cancel();
    this.#server.connectionListeners.delete(this.#listener);
    const subject = subjects.shutdown(this.#server.serverId);
    if (this.#mayBeHeard(subject)) {
      const stamp = this.#stamp ?? await this.#loadStamp();
      const info: ServerInfo = stamp.next();
      this.#client.publish(subject, enc.encode(JSON.stringify(info)));
    }
    this.#client.close();
    for (const c of this.#accountClients.values()) c.close();
  }

  /** The numbered `server` block's code, once (the responder and the goodbye share one sequence). */
  async #loadStamp(): Promise<ServerInfoStamp> {
    const { ServerInfoStamp } = await import("./server_info.ts");
    this.#stamp ??= new ServerInfoStamp(this.#server, this.#now);
    return this.#stamp;
  }

  // ---- the responder, loaded on first use ----

  /** Runs `run` with the responder: now if it is loaded, else once it is (after what waits already). */
  #use(what: string, run: (r: Responder) => void): void {
    const r = this.#responder;
    if (r !== undefined) return this.#safely(what, () => run(r));
    this.#waiting.push({ what, run });
    this.#loading ??= this.#load();
  }

  async #load(): Promise<void> {
    try {
      const [mod, endpoints, stamp] = await Promise.all([import("./responder.ts"), this.#monitor.load(), this.#loadStamp()]);
      const r = new mod.Responder(this.#server, endpoints, this.#client, stamp, this.#now);
      this.#responder = r;
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const w of waiting) this.#safely(w.what, () => w.run(r));
    } catch (e) {
      // What waited is dropped (as a failed answer would be); the next use tries again.
      this.#loading = undefined;
      this.#waiting = [];
      this.#server.logger.error(`system account services failed to load: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * A request: answered by the responder (loaded by the first one; until then with a copy of the message, whose
   * bytes are only lent for this call).
   */
  #request(m: InternalMsg, via: InternalClient, answer: (r: Responder, m: InternalMsg) => void): void {
    const r = this.#responder;
    if (r !== undefined) return r.guard(m, via, (held) => answer(r, held));
    const held: InternalMsg = { ...m, payload: m.payload.slice(), headers: m.headers?.slice() };
    this.#use(`system request ${m.subject}`, (loaded) => loaded.guard(held, via, (msg) => answer(loaded, msg)));
  }

  /** Events and heartbeats run inside connection handling and timers: a failure is logged, never thrown there. */
  #safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#server.logger.error(`system account ${what} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
  }

  // ---- heartbeats ----

  #scheduleStatsz(): void {
    if (this.#stopped) return;
    this.#timer = lightTimeout(this.#nextDelay, () => {
      this.#timer = undefined;
      if (this.#stopped) return;
      if (this.#mayBeHeard(subjects.statsz(this.#server.serverId))) this.#use("STATSZ heartbeat", (r) => r.statszHeartbeat());
      this.#nextDelay = Math.min(this.#nextDelay * 2, this.#interval);
      this.#scheduleStatsz();
    });
  }

  /**
   * Can a heartbeat on `subject` reach anyone? A server whose only links are routes knows everyone who could hear
   * it: its own clients' subscriptions and the peers' (a route carries a message only where the peer asked for it
   * with RS+, and those are route-owned subscriptions in the same sublist). With none, the heartbeat is not built,
   * as nats-server's sendStatsz skips it on a standalone server. A gateway sends without being told of interest and
   * a leafnode remote may bind the system account elsewhere: with either configured it is always sent.
   * Building it (varz, routez, gatewayz, JSON, dates) is most of what an idle server runs, and its code stays
   * resident: +1.6 MB RSS (measured with Deno); on a busy cluster node it held the event loop ~0.5-1 ms at 0.25,
   * 0.75, 1.75, 3.75 s... after start (Bun, a cross-node request/reply run; bench/RESULTS.md `tail5`), for a
   * message no peer of Petrel's subscribes to.
   */
  #mayBeHeard(subject: string): boolean {
    const o = this.#server.options;
    if ((o.gateway !== undefined && o.gateway.name !== "") || o.leafnodes !== undefined) return true;
    // The answer holds until the system account's subscriptions change (no match, no subject hash, every 10 s).
    const sys = this.#server.accounts.system;
    if (this.#heard?.gen !== sys.interestGen || this.#heard.subject !== subject) {
      this.#heard = { gen: sys.interestGen, subject, yes: sys.interestIn(subject) !== undefined };
    }
    return this.#heard.yes;
  }
  #heard: { gen: number; subject: string; yes: boolean } | undefined;

  // ---- events ----

  /**
   * The account's connection numbers now (an event built later still tells what they were when it happened).
   * Undefined while the counters are not loaded (only right after a reload added accounts: they are loaded at
   * start when there are any): the event then takes them once it is built, when they are (#statLoaded).
   */
  #stat(account: string): AccountStat | undefined {
    return this.#monitor.state?.accountStats.stat(account, leafCounts(this.#server).get(account) ?? 0);
  }

  /** The numbers where the responder runs: the endpoints it loaded with came with the counters. */
  #statLoaded(account: string): AccountStat {
    const stat = this.#stat(account);
    if (stat === undefined) throw new Error("bug: the system services' responder ran without the monitoring counters");
    return stat;
  }

  #clientUp(c: ClientConn): void {
    const account = accountOfClient(c);
    // An account added by a reload gets its own services with its first connection.
    this.#startAccountImports(account);
    // As nats-server: the global account's activity is not reported.
    if (account === GLOBAL_ACCOUNT) return;
    this.#announced.add(c);
    const at = this.#now();
    const stat = this.#stat(account);
    this.#use("connection event", (r) => r.clientUp(c, account, at, stat ?? this.#statLoaded(account)));
  }

  #clientDown(c: ClientConn): void {
    if (!this.#announced.delete(c)) {
      if (c.closeReason === "Authentication Failure") {
        const at = this.#now();
        this.#use("connection event", (r) => r.authError(c, at));
      }
      return;
    }
    const account = accountOfClient(c);
    const at = this.#now();
    const stat = this.#stat(account);
    this.#use("connection event", (r) => r.clientDown(c, account, at, stat ?? this.#statLoaded(account)));
  }
}

export type { ServerInfo };
