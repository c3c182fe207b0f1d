/**
 * The monitoring endpoints, one function each, in nats-server's JSON shapes. The HTTP app and the system
 * account's `$SYS.REQ.*` services both call these: HTTP passes its query string, the system services turn a
 * request body into the same query (src/system/request_options.ts), so both always answer alike.
 */
import { isValidPublishSubject } from "../subjects/subject.ts";
import type { Server } from "../server/server.ts";
import type { AccountStats } from "./account_stats.ts";
import { accountz, accstatz } from "./accountz.ts";
import type { ClosedConnections } from "./closed_connections.ts";
import { connz, parseConnzQuery } from "./connz.ts";
import { createMonitorState, type MonitorState } from "./monitor_state.ts";
import { rfc3339 } from "./format.ts";
import { parseSubszQuery, subsz } from "./subsz.ts";
import { varz, type VarzContext } from "./varz.ts";

export const ENDPOINT_NAMES = [
  "varz",
  "connz",
  "routez",
  "gatewayz",
  "leafz",
  "subsz",
  "accountz",
  "accstatz",
  "jsz",
  "healthz",
] as const;
export type EndpointName = typeof ENDPOINT_NAMES[number];

/** An endpoint's answer: data (with the HTTP status to use, 200 unless said), or an error with its status. */
export type EndpointResult =
  | { ok: true; data: unknown; status?: number }
  | { ok: false; status: number; error: string };

export type Endpoint = (q: URLSearchParams) => EndpointResult;

export interface MonitorEndpoints {
  readonly run: Record<EndpointName, Endpoint>;
  readonly accountStats: AccountStats;
  readonly closed: ClosedConnections;
}

const ok = (data: unknown, status?: number): EndpointResult => ({ ok: true, data, status });
const bad = (error: string, status = 400): EndpointResult => ({ ok: false, status, error });

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === "1" || v === "true";
}

/**
 * Builds the endpoints for a server, over the counters it has kept since its start (`state`; without one a new
 * set starts counting now).
 */
export function createMonitorEndpoints(s: Server, ctx: VarzContext, state: MonitorState = createMonitorState(s)): MonitorEndpoints {
  const { accountStats, closed } = state;
  const section = (name: string, q: URLSearchParams): unknown => s.monitorSections.get(name)?.(q);
  const run: Record<EndpointName, Endpoint> = {
    varz: () => ok(varz(s, ctx)),
    connz: (q) => {
      const parsed = parseConnzQuery(q);
      return typeof parsed === "string" ? bad(parsed) : ok(connz(s, parsed, closed.list()));
    },
    subsz: (q) => {
      const test = q.get("test");
      if (test !== null && test !== "" && !isValidPublishSubject(test)) {
        return bad(`invalid test subject, must be valid publish subject: ${test}`);
      }
      return ok(subsz(s, parseSubszQuery(q)));
    },
    routez: (q) => ok(section("routez", q) ?? {
      server_id: s.serverId,
      server_name: s.serverName,
      now: rfc3339(new Date()),
      num_routes: 0,
      routes: [],
    }),
    gatewayz: (q) => ok(section("gatewayz", q) ?? {
      server_id: s.serverId,
      now: rfc3339(new Date()),
      outbound_gateways: {},
      inbound_gateways: {},
    }),
    leafz: (q) => {
      const data = section("leafz", q) as { leafs?: Array<{ account?: string }> | null } | undefined;
      const acc = q.get("acc");
      // Without leafnodes nats-server reports `leafs: null`.
      if (data === undefined) return ok({ server_id: s.serverId, now: rfc3339(new Date()), leafnodes: 0, leafs: null });
      if (acc === null || acc === "" || data.leafs === undefined || data.leafs === null) return ok(data);
      const leafs = data.leafs.filter((l) => (l.account ?? "$G") === acc);
      return ok({ ...data, leafnodes: leafs.length, leafs });
    },
    accountz: (q) => {
      const acc = q.get("acc");
      const r = accountz(s, acc !== null && acc !== "" ? acc : undefined);
      return r.ok ? ok(r.data) : bad(r.error);
    },
    accstatz: (q) => {
      const accs = (q.get("accs") ?? "").split(",").filter((a) => a !== "");
      return ok(accstatz(s, accountStats, { accounts: accs, includeUnused: flag(q, "unused") }));
    },
    jsz: (q) =>
      ok(section("jsz", q) ?? {
        server_id: s.serverId,
        now: rfc3339(new Date()),
        disabled: true,
        config: { max_memory: 0, max_storage: 0 },
        memory: 0,
        storage: 0,
        reserved_memory: 0,
        reserved_storage: 0,
        accounts: 0,
        ha_assets: 0,
        api: { total: 0, errors: 0 },
        streams: 0,
        consumers: 0,
        messages: 0,
        bytes: 0,
      }),
    healthz: (q) => {
      const check = s.monitorSections.get("healthz");
      const problem = !s.running ? "server not running" : check !== undefined ? (check(q) as string | undefined) : undefined;
      if (problem !== undefined) return ok({ status: "unavailable", error: problem }, 503);
      return ok({ status: "ok" });
    },
  };
  return { run, accountStats, closed };
}
