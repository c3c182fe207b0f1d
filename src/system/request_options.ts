/**
 * Request bodies of the `$SYS.REQ.*` services, as nats-server accepts them: a JSON object with the endpoint's
 * options (ConnzOptions, SubszOptions, ...) and the server filter (`server_name`, `cluster`, `host`, `tags`,
 * `domain`). Each body becomes the same query string the HTTP endpoint takes, so one function answers both.
 */
import { z } from "zod";

const bool = z.boolean().optional();
const int = z.number().int().optional();
const str = z.string().optional();

export const EventFilterSchema = z.looseObject({
  server_name: str,
  cluster: str,
  host: str,
  tags: z.array(z.string()).optional(),
  domain: str,
});
export type EventFilter = z.infer<typeof EventFilterSchema>;

/** What this server is, for matching a filter. */
export interface FilterTarget {
  name: string;
  host: string;
  cluster: string;
  tags: string[];
  domain: string;
}

/** nats-server's rule: every given field must match (names by substring, tags all present, domain exactly). */
export function filterMatches(f: EventFilter, t: FilterTarget): boolean {
  if (f.server_name !== undefined && f.server_name !== "" && !t.name.includes(f.server_name)) return false;
  if (f.host !== undefined && f.host !== "" && !t.host.includes(f.host)) return false;
  if (f.cluster !== undefined && f.cluster !== "" && !t.cluster.includes(f.cluster)) return false;
  // Tags compare as nats-server's tag lists do: without regard to case.
  if (f.tags !== undefined && f.tags.some((tag) => !t.tags.some((mine) => mine.toLowerCase() === tag.toLowerCase()))) return false;
  if (f.domain !== undefined && f.domain !== "" && f.domain !== t.domain) return false;
  return true;
}

type Query = Record<string, string | undefined>;

/** Per endpoint: the body's schema and how its fields map onto the HTTP query. */
const OPTIONS = {
  STATSZ: { schema: z.looseObject({}), query: (): Query => ({}) },
  VARZ: { schema: z.looseObject({}), query: (): Query => ({}) },
  CONNZ: {
    schema: z.looseObject({
      sort: str,
      auth: bool,
      subscriptions: bool,
      subscriptions_detail: bool,
      offset: int,
      limit: int,
      cid: int,
      acc: str,
      user: str,
      state: int,
    }),
    query: (o: { sort?: string; auth?: boolean; subscriptions?: boolean; subscriptions_detail?: boolean; offset?: number; limit?: number; cid?: number; acc?: string; user?: string; state?: number }): Query => ({
      sort: o.sort,
      auth: o.auth ? "1" : undefined,
      subs: o.subscriptions_detail ? "detail" : o.subscriptions ? "1" : undefined,
      offset: num(o.offset),
      limit: num(o.limit),
      cid: o.cid !== undefined && o.cid !== 0 ? String(o.cid) : undefined,
      acc: o.acc,
      user: o.user,
      // nats-server's ConnState: 0 open, 1 closed, 2 all.
      state: o.state === 1 ? "closed" : o.state === 2 ? "all" : undefined,
    }),
  },
  SUBSZ: {
    schema: z.looseObject({ offset: int, limit: int, subscriptions: bool, account: str, test: str }),
    query: (o: { offset?: number; limit?: number; subscriptions?: boolean; account?: string; test?: string }): Query => ({
      offset: num(o.offset),
      limit: num(o.limit),
      subs: o.subscriptions ? "1" : undefined,
      acc: o.account,
      test: o.test,
    }),
  },
  ROUTEZ: {
    schema: z.looseObject({ subscriptions: bool, subscriptions_detail: bool }),
    query: (o: { subscriptions?: boolean; subscriptions_detail?: boolean }): Query => ({
      subs: o.subscriptions_detail ? "detail" : o.subscriptions ? "1" : undefined,
    }),
  },
  GATEWAYZ: {
    schema: z.looseObject({ name: str, accounts: bool, account_name: str }),
    query: (o: { name?: string; accounts?: boolean; account_name?: string }): Query => ({
      gw_name: o.name,
      accs: o.accounts ? "1" : undefined,
      acc_name: o.account_name,
    }),
  },
  LEAFZ: {
    schema: z.looseObject({ subscriptions: bool, account: str }),
    query: (o: { subscriptions?: boolean; account?: string }): Query => ({ subs: o.subscriptions ? "1" : undefined, acc: o.account }),
  },
  JSZ: {
    schema: z.looseObject({
      account: str,
      accounts: bool,
      streams: bool,
      consumer: bool,
      config: bool,
      leader_only: bool,
      offset: int,
      limit: int,
    }),
    query: (o: { account?: string; accounts?: boolean; streams?: boolean; consumer?: boolean; config?: boolean; leader_only?: boolean; offset?: number; limit?: number }): Query => ({
      acc: o.account,
      accounts: o.accounts ? "true" : undefined,
      streams: o.streams ? "true" : undefined,
      consumers: o.consumer ? "true" : undefined,
      config: o.config ? "true" : undefined,
      leader_only: o.leader_only ? "true" : undefined,
      offset: num(o.offset),
      limit: num(o.limit),
    }),
  },
  HEALTHZ: {
    schema: z.looseObject({ "js-enabled": bool, "js-server-only": bool }),
    query: (o: { "js-enabled"?: boolean; "js-server-only"?: boolean }): Query => ({
      "js-enabled": o["js-enabled"] ? "true" : undefined,
      "js-server-only": o["js-server-only"] ? "true" : undefined,
    }),
  },
  ACCOUNTZ: {
    schema: z.looseObject({ account: str }),
    query: (o: { account?: string }): Query => ({ acc: o.account }),
  },
  STATZ: {
    schema: z.looseObject({ accounts: z.array(z.string()).optional(), include_unused: bool }),
    query: (o: { accounts?: string[]; include_unused?: boolean }): Query => ({
      accs: o.accounts !== undefined && o.accounts.length > 0 ? o.accounts.join(",") : undefined,
      unused: o.include_unused ? "1" : undefined,
    }),
  },
  INFO: { schema: z.looseObject({}), query: (): Query => ({}) },
  CONNS: { schema: z.looseObject({}), query: (): Query => ({}) },
} as const;

export type OptionsKind = keyof typeof OPTIONS;

function num(n: number | undefined): string | undefined {
  return n === undefined || n === 0 ? undefined : String(n);
}

export type ParsedRequest = { ok: true; filter: EventFilter; query: URLSearchParams } | { ok: false; error: string };

/** Parses a request body (empty means no options) for one endpoint. */
export function parseRequestBody(kind: OptionsKind, body: Uint8Array): ParsedRequest {
  if (body.length === 0) return { ok: true, filter: {}, query: new URLSearchParams() };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(body));
  } catch (e) {
    return { ok: false, error: `invalid JSON request body: ${(e as Error).message}` };
  }
  const filter = EventFilterSchema.safeParse(raw);
  if (!filter.success) return { ok: false, error: describe(filter.error) };
  const spec = OPTIONS[kind];
  const opts = spec.schema.safeParse(raw);
  if (!opts.success) return { ok: false, error: describe(opts.error) };
  const query = new URLSearchParams();
  // The option types differ per endpoint; each spec's query() takes exactly what its schema produced.
  const fields = (spec.query as (o: unknown) => Query)(opts.data);
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== "") query.set(k, v);
  return { ok: true, filter: filter.data, query };
}

function describe(err: z.ZodError): string {
  const first = err.issues[0];
  if (first === undefined) return "invalid request body";
  const path = first.path.length > 0 ? first.path.join(".") : "body";
  return `invalid request option ${path}: ${first.message}`;
}
