/**
 * The work of the system account's services (services.ts keeps the subscriptions, listeners and timers): answers
 * to `$SYS.REQ.*` requests from the monitoring endpoints (the same functions HTTP serves), and the connect,
 * disconnect, account-connection and STATSZ messages. Loaded on first use, with the endpoints: a server that is
 * never asked and has nothing to announce never loads it.
 */
import type { ClientConn } from "../server/client.ts";
import type { InternalClient, InternalMsg } from "../server/internal.ts";
import type { Server } from "../server/server.ts";
import { randomToken } from "../server/ids.ts";
import type { AccountStat } from "../monitor/account_stats.ts";
import { accountExists, accountOfClient, clientsOf, leafCounts } from "../monitor/accounts_view.ts";
import { accountDetail, accountStatList } from "../monitor/accountz.ts";
import type { EndpointName, EndpointResult, MonitorEndpoints } from "../monitor/endpoints.ts";
import { rfc3339 } from "../monitor/format.ts";
import { accountConnsEvent, authErrorEvent, connectEvent, disconnectEvent, serverStats } from "./events.ts";
import type * as RequestOptions from "./request_options.ts";
import type { FilterTarget, OptionsKind } from "./request_options.ts";
import { clusterNameOf, type ServerInfoStamp } from "./server_info.ts";
import { type AccountEndpoint, subjects } from "./subjects.ts";

type Json = Record<string, unknown>;
const enc = new TextEncoder();

export class Responder {
  readonly #server: Server;
  readonly #endpoints: MonitorEndpoints;
  /** The system account's client: requests to it are answered through it, events published by it. */
  readonly #client: InternalClient;
  readonly #stamp: ServerInfoStamp;
  readonly #now: () => Date;

  constructor(server: Server, endpoints: MonitorEndpoints, client: InternalClient, stamp: ServerInfoStamp, now: () => Date) {
    this.#server = server;
    this.#endpoints = endpoints;
    this.#client = client;
    this.#stamp = stamp;
    this.#now = now;
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
  guard(m: InternalMsg, via: InternalClient, answer: (m: InternalMsg) => void): void {
    if (this.#requestOptions === undefined) {
      // The first request loads the body parser (zod): answer once it is there, with a copy of the body.
      const held: InternalMsg = { ...m, payload: m.payload.slice(), headers: m.headers?.slice() };
      this.#loadRequestOptions().then(() => this.guard(held, via, answer), (e) => {
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

  serverRequest(name: string, m: InternalMsg): void {
    if (m.reply === undefined) return;
    const via = this.#client;
    const kind = name as OptionsKind;
    const ro = this.#requestOptions as typeof RequestOptions;
    const parsed = ro.parseRequestBody(kind, m.payload);
    if (!parsed.ok) return this.#reply(via, m.reply, { server: this.#stamp.next(), error: { code: 400, description: parsed.error } });
    if (!ro.filterMatches(parsed.filter, this.#filterTarget())) return;
    // Each name answers with the endpoint of its name in lower case (STATSZ: the statistics block).
    const endpoint = name.toLowerCase() as EndpointName | "statsz";
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
  accountRequest(name: AccountEndpoint, m: InternalMsg, bound?: { account: string; via: InternalClient }): void {
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

  // ---- events (their time and numbers as they were when services.ts saw them happen) ----

  clientUp(c: ClientConn, account: string, at: Date, stat: AccountStat): void {
    this.accountConns(account, at, stat);
    this.#publish(subjects.connect(account), connectEvent(randomToken(22), at, this.#stamp.next(at), c, account));
  }

  clientDown(c: ClientConn, account: string, at: Date, stat: AccountStat): void {
    this.accountConns(account, at, stat);
    this.#publish(subjects.disconnect(account), disconnectEvent(randomToken(22), at, this.#stamp.next(at), c, account));
  }

  authError(c: ClientConn, at: Date): void {
    const sid = this.#server.serverId;
    this.#publish(subjects.authError(sid), authErrorEvent(randomToken(22), at, this.#stamp.next(at), c, accountOfClient(c)));
  }

  accountConns(account: string, at: Date, stat: AccountStat): void {
    const id = randomToken(22);
    this.#publish(subjects.accountConnsOld(account), accountConnsEvent(id, at, this.#stamp.next(at), stat));
    this.#publish(subjects.accountConns(account), accountConnsEvent(id, at, this.#stamp.next(at), stat));
  }

  statszHeartbeat(): void {
    this.#publish(subjects.statsz(this.#server.serverId), { server: this.#stamp.next(), statsz: this.statsz() });
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

  #publish(subject: string, body: object): void {
    this.#client.publish(subject, enc.encode(JSON.stringify(body)));
  }
}
