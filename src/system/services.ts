/**
 * The system account's services: an internal client of the system account that answers `$SYS.REQ.*`
 * requests with the monitoring endpoints (the same functions HTTP serves), publishes connect/disconnect and
 * account-connection events, and sends the periodic `STATSZ` heartbeat. It subscribes and publishes like any
 * other client, so across a cluster every server's services hear a PING through the routes and answer it.
 */
import type { ClientConn } from "../server/client.ts";
import type { InternalClient, InternalMsg } from "../server/internal.ts";
import type { Server } from "../server/server.ts";
import { randomToken } from "../server/ids.ts";
import { accountExists, accountOfClient, clientsOf, GLOBAL_ACCOUNT, SYSTEM_IMPORTS_CLIENT } from "../monitor/accounts_view.ts";
import { accountDetail, accountStatList, leafCounts } from "../monitor/accountz.ts";
import type { EndpointName, EndpointResult, MonitorEndpoints } from "../monitor/endpoints.ts";
import { rfc3339 } from "../monitor/format.ts";
import { accountConnsEvent, authErrorEvent, connectEvent, disconnectEvent, serverStats, subjects } from "./events.ts";
import type * as RequestOptions from "./request_options.ts";
import type { FilterTarget, OptionsKind } from "./request_options.ts";
import { clusterNameOf, type ServerInfo, ServerInfoStamp } from "./server_info.ts";
import { lightInterval, lightTimeout } from "../runtime/light_timers.ts";
import type { Timer } from "../runtime/clock.ts";

/** `$SYS.REQ.SERVER.PING.<name>` and `$SYS.REQ.SERVER.<id>.<name>`: the endpoint each one answers with. */
const SERVER_ENDPOINTS: Record<string, EndpointName | "statsz"> = {
  STATSZ: "statsz",
  VARZ: "varz",
  CONNZ: "connz",
  SUBSZ: "subsz",
  ROUTEZ: "routez",
  GATEWAYZ: "gatewayz",
  LEAFZ: "leafz",
  JSZ: "jsz",
  HEALTHZ: "healthz",
  ACCOUNTZ: "accountz",
};

/** `$SYS.REQ.ACCOUNT.<acc>.<name>`, as nats-server 2.9 has them. */
const ACCOUNT_ENDPOINTS = ["SUBSZ", "CONNZ", "LEAFZ", "JSZ", "INFO", "CONNS", "STATZ"] as const;
type AccountEndpoint = typeof ACCOUNT_ENDPOINTS[number];

export interface SystemServicesOptions {
  /** How often accounts with connections repeat their SERVER.CONNS count (nats-server: 30 s). */
  accountConnsIntervalMs?: number;
  /** The STATSZ heartbeat period (nats-server: 10 s); the first ones come faster, from 250 ms doubling. */
  statszIntervalMs?: number;
  statszFirstMs?: number;
  now?: () => Date;
}

type Json = Record<string, unknown>;
const enc = new TextEncoder();

export class SystemServices {
  readonly #server: Server;
  readonly #endpoints: MonitorEndpoints;
  readonly #client: InternalClient;
  /** One per other account, answering that account's own requests. */
  readonly #accountClients = new Map<string, InternalClient>();
  readonly #stamp: ServerInfoStamp;
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

  constructor(server: Server, endpoints: MonitorEndpoints, client: InternalClient, opts: SystemServicesOptions = {}) {
    this.#server = server;
    this.#endpoints = endpoints;
    this.#client = client;
    this.#now = opts.now ?? (() => new Date());
    this.#stamp = new ServerInfoStamp(server, this.#now);
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
      { subject: "$SYS.REQ.SERVER.PING", handler: (m) => this.#guard(m, c, (r) => this.#serverRequest("STATSZ", r)) },
    ];
    for (const name of Object.keys(SERVER_ENDPOINTS)) {
      const handler = (m: InternalMsg) => this.#guard(m, c, (r) => this.#serverRequest(name, r));
      subs.push({ subject: `$SYS.REQ.SERVER.PING.${name}`, handler }, { subject: `$SYS.REQ.SERVER.${id}.${name}`, handler });
    }
    for (const name of ACCOUNT_ENDPOINTS) {
      subs.push({ subject: `$SYS.REQ.ACCOUNT.*.${name}`, handler: (m) => this.#guard(m, c, (r) => this.#accountRequest(name, r)) });
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
    for (const account of accounts) this.#accountConns(account);
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
      { subject: "$SYS.REQ.ACCOUNT.PING.CONNZ", handler: (m) => this.#guard(m, c, (r) => this.#accountRequest("CONNZ", r, bound)) },
      { subject: "$SYS.REQ.SERVER.PING.CONNZ", handler: (m) => this.#guard(m, c, (r) => this.#accountRequest("CONNZ", r, bound)) },
      { subject: "$SYS.REQ.ACCOUNT.PING.STATZ", handler: (m) => this.#guard(m, c, (r) => this.#accountRequest("STATZ", r, bound)) },
    ]);
  }

  /** Says goodbye on `$SYS.SERVER.<id>.SHUTDOWN` (other servers forget this one), then stops. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    this.#connsTimer?.cancel();
    this.#server.connectionListeners.delete(this.#listener);
    const info = this.#stamp.next();
    this.#publish(subjects.shutdown(this.#server.serverId), info);
    this.#client.close();
    for (const c of this.#accountClients.values()) c.close();
  }

  // ---- requests ----

  /** Request bodies are checked with zod schemas, loaded with the first request (an idle server loads no zod). */
  #requestOptions: typeof RequestOptions | undefined;
  #requestOptionsLoad: Promise<void> | undefined;

  #loadRequestOptions(): Promise<void> {
    return this.#requestOptionsLoad ??= import("./request_options.ts").then((mod) => {
      this.#requestOptions = mod;
    });
  }

  /**
   * A request is answered inside the requester's publish: a failure in building the answer must not travel
   * back into that client's connection. It is logged and answered as nats-server answers a failed request.
   */
  #guard(m: InternalMsg, via: InternalClient, answer: (m: InternalMsg) => void): void {
    if (this.#requestOptions === undefined) {
      // The first request loads the body parser (zod): answer once it is there, with a copy of the body.
      const held: InternalMsg = { ...m, payload: m.payload.slice(), headers: m.headers?.slice() };
      this.#loadRequestOptions().then(() => this.#guard(held, via, answer), (e) => {
        this.#server.logger.error(`system request ${m.subject} failed: ${e instanceof Error ? e.message : String(e)}`);
      });
      return;
    }
    try {
      answer(m);
    } catch (e) {
      this.#server.logger.error(`system request ${m.subject} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      if (m.reply !== undefined) this.#reply(via, m.reply, { server: this.#stamp.next(), data: null, error: { code: 500, description: String(e) } });
    }
  }

  /** Events and heartbeats run inside connection handling and timers: a failure is logged, never thrown there. */
  #safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#server.logger.error(`system account ${what} failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    }
  }

  #serverRequest(name: string, m: InternalMsg): void {
    if (m.reply === undefined) return;
    const via = this.#client;
    const kind = name as OptionsKind;
    const ro = this.#requestOptions as typeof RequestOptions;
    const parsed = ro.parseRequestBody(kind, m.payload);
    if (!parsed.ok) return this.#reply(via, m.reply, { server: this.#stamp.next(), error: { code: 400, description: parsed.error } });
    if (!ro.filterMatches(parsed.filter, this.#filterTarget())) return;
    const endpoint = SERVER_ENDPOINTS[name];
    if (endpoint === "statsz") return this.#reply(via, m.reply, { server: this.#stamp.next(), statsz: this.statsz() });
    const result = this.#endpoints.run[endpoint](parsed.query);
    // `leader_only`: only the JetStream meta leader answers (a server running JetStream alone leads itself).
    if (endpoint === "jsz" && parsed.query.get("leader_only") === "true" && !this.#leadsJetStream(result)) return;
    this.#replyResult(via, m.reply, result);
  }

  #leadsJetStream(r: EndpointResult): boolean {
    if (!r.ok) return false;
    const d = r.data as { disabled?: boolean; meta_cluster?: { leader?: string } };
    if (d.disabled) return false;
    return d.meta_cluster === undefined || d.meta_cluster.leader === this.#server.serverName;
  }

  /**
   * `bound`: an account asking through its own imported subjects (it only ever sees itself); the answer then
   * goes out through that account's client, where the requester's inbox is.
   */
  #accountRequest(name: AccountEndpoint, m: InternalMsg, bound?: { account: string; via: InternalClient }): void {
    if (m.reply === undefined) return;
    const account = bound?.account ?? m.subject.split(".")[3];
    const via = bound?.via ?? this.#client;
    const ro = this.#requestOptions as typeof RequestOptions;
    const parsed = ro.parseRequestBody(name, m.payload);
    if (!parsed.ok) return this.#reply(via, m.reply, { server: this.#stamp.next(), error: { code: 400, description: parsed.error } });
    if (!ro.filterMatches(parsed.filter, this.#filterTarget())) return;
    const q = parsed.query;
    const run = this.#endpoints.run;
    switch (name) {
      case "SUBSZ":
        q.set("acc", account);
        if (!q.has("subs")) q.set("subs", "1");
        if (!accountExists(this.#server, account)) {
          // Unlike HTTP, nats-server answers an unknown account here with an empty, paged report.
          const zero = run.subsz(q);
          const paging = { total: 0, offset: Number(q.get("offset") ?? 0) || 0, limit: Number(q.get("limit") ?? 1024) || 1024 };
          const data = { server_id: this.#server.serverId, now: rfc3339(this.#now()), ...(zero.ok ? zero.data as Json : {}), ...paging };
          return this.#reply(via, m.reply, { server: this.#stamp.next(), data });
        }
        return this.#replyResult(via, m.reply, run.subsz(q));
      case "CONNZ":
        q.set("acc", account);
        return this.#replyResult(via, m.reply, run.connz(q));
      case "LEAFZ":
        q.set("acc", account);
        return this.#replyResult(via, m.reply, run.leafz(q));
      case "JSZ": {
        if (this.#server.monitorSections.get("jsz") === undefined) {
          return this.#reply(via, m.reply, { server: this.#stamp.next(), data: null, error: { code: 500, description: "jetstream not enabled" } });
        }
        // The account's own entry of /jsz (nats-server answers with the account detail, not the whole report).
        q.set("acc", account);
        q.set("accounts", "true");
        const r = run.jsz(q);
        const detail = r.ok ? ((r.data as Json).account_details as Json[] | undefined)?.find((d) => d.name === account) : undefined;
        if (detail === undefined) {
          return this.#reply(via, m.reply, { server: this.#stamp.next(), data: null, error: { code: 500, description: `account ${JSON.stringify(account)} not jetstream enabled` } });
        }
        return this.#reply(via, m.reply, { server: this.#stamp.next(), data: detail });
      }
      case "INFO":
        if (!accountExists(this.#server, account)) {
          return this.#reply(via, m.reply, { server: this.#stamp.next(), data: null, error: { code: 500, description: `Account ${account} does not exist` } });
        }
        return this.#reply(via, m.reply, { server: this.#stamp.next(), data: accountDetail(this.#server, account) });
      case "CONNS": {
        // Only a server with connections in the account answers (the others stay silent).
        if (!accountExists(this.#server, account)) return;
        const stat = this.#endpoints.accountStats.stat(account, leafCounts(this.#server).get(account) ?? 0);
        if (stat.total_conns === 0) return;
        return this.#reply(via, m.reply, accountConnsEvent(randomToken(22), this.#now(), this.#stamp.next(), stat));
      }
      case "STATZ": {
        // `PING` asks for every account (or the body's list); a name asks for that account.
        const accounts = account === "PING" ? (q.get("accs") ?? "").split(",").filter((a) => a !== "") : [account];
        const list = accountStatList(this.#server, this.#endpoints.accountStats, { accounts, includeUnused: q.get("unused") === "1" });
        if (list.length === 0) return;
        return this.#reply(via, m.reply, {
          server: this.#stamp.next(),
          data: { server_id: this.#server.serverId, now: rfc3339(this.#now()), account_statz: list },
        });
      }
    }
  }

  #replyResult(via: InternalClient, reply: string, r: EndpointResult): void {
    const server = this.#stamp.next();
    if (r.ok) this.#reply(via, reply, { server, data: r.data });
    else this.#reply(via, reply, { server, data: null, error: { code: 500, description: r.error } });
  }

  #reply(via: InternalClient, subject: string, body: Json): void {
    via.publish(subject, enc.encode(JSON.stringify(body)));
  }

  #filterTarget(): FilterTarget {
    const s = this.#server;
    const tags = s.options.server_tags ?? [];
    return { name: s.serverName, host: s.options.host, cluster: clusterNameOf(s) ?? "", tags, domain: s.options.jetstream?.domain ?? "" };
  }

  // ---- statistics ----

  /** The server's statistics block (nats-server's ServerStats), as PING and the heartbeat carry it. */
  statsz(): Json {
    const run = this.#endpoints.run;
    const varz = run.varz(new URLSearchParams());
    const routez = run.routez(new URLSearchParams());
    const gatewayz = run.gatewayz(new URLSearchParams());
    const active = new Set(clientsOf(this.#server).map(accountOfClient)).size;
    const data = (r: EndpointResult): Json | undefined => (r.ok ? r.data as Json : undefined);
    return serverStats(data(varz) ?? {}, data(routez), data(gatewayz), active);
  }

  #scheduleStatsz(): void {
    if (this.#stopped) return;
    this.#timer = lightTimeout(this.#nextDelay, () => {
      this.#timer = undefined;
      if (this.#stopped) return;
      const subject = subjects.statsz(this.#server.serverId);
      if (this.#mayBeHeard(subject)) {
        this.#safely("STATSZ heartbeat", () => this.#publish(subject, { server: this.#stamp.next(), statsz: this.statsz() }));
      }
      this.#nextDelay = Math.min(this.#nextDelay * 2, this.#interval);
      this.#scheduleStatsz();
    });
  }

  /**
   * Can a heartbeat on `subject` reach anyone? A standalone server (no routes, gateways or leafnodes that could
   * carry it on; a gateway sends without being told of interest) knows all its subscribers: with none, the
   * heartbeat is not built, as nats-server's sendStatsz skips it. Building it (varz, routez, gatewayz, JSON, dates)
   * is most of what an idle server runs, and its code stays resident: +1.6 MB RSS (measured with Deno).
   */
  #mayBeHeard(subject: string): boolean {
    const o = this.#server.options;
    if (o.cluster !== undefined || (o.gateway !== undefined && o.gateway.name !== "") || o.leafnodes !== undefined) return true;
    return this.#server.accounts.system.interestIn(subject) !== undefined;
  }

  // ---- events ----

  #clientUp(c: ClientConn): void {
    const account = accountOfClient(c);
    // An account added by a reload gets its own services with its first connection.
    this.#startAccountImports(account);
    // As nats-server: the global account's activity is not reported.
    if (account === GLOBAL_ACCOUNT) return;
    this.#announced.add(c);
    this.#accountConns(account);
    this.#publish(subjects.connect(account), connectEvent(randomToken(22), this.#now(), this.#stamp.next(), c, account));
  }

  #clientDown(c: ClientConn): void {
    if (!this.#announced.delete(c)) {
      if (c.closeReason === "Authentication Failure") {
        const sid = this.#server.serverId;
        this.#publish(subjects.authError(sid), authErrorEvent(randomToken(22), this.#now(), this.#stamp.next(), c, accountOfClient(c)));
      }
      return;
    }
    const account = accountOfClient(c);
    this.#accountConns(account);
    this.#publish(subjects.disconnect(account), disconnectEvent(randomToken(22), this.#now(), this.#stamp.next(), c, account));
  }

  #accountConns(account: string): void {
    const stat = this.#endpoints.accountStats.stat(account, leafCounts(this.#server).get(account) ?? 0);
    const id = randomToken(22);
    const now = this.#now();
    this.#publish(subjects.accountConnsOld(account), accountConnsEvent(id, now, this.#stamp.next(), stat));
    this.#publish(subjects.accountConns(account), accountConnsEvent(id, now, this.#stamp.next(), stat));
  }

  #publish(subject: string, body: object): void {
    this.#client.publish(subject, enc.encode(JSON.stringify(body)));
  }
}

export type { ServerInfo };
