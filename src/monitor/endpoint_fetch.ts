/**
 * The monitoring endpoints over HTTP without the app: a GET of /varz, /connz, /healthz, /jsz, ... (and
 * /subscriptionsz) is answered straight from endpoints.ts, with the status, headers and body the hono app
 * (app.ts) gives for it; test/monitor/endpoint_fetch.test.ts compares the two byte for byte. Anything else (the
 * dashboard, /streaming/*, HEAD and other methods, unknown paths) is left to the app, which loads on first need.
 *
 * Why: a server polled by a metrics agent only ever asks these, and loading hono and running its router kept
 * ~7 MB (Bun) to ~10 MB (Deno) resident for the life of the process (bench/RESULTS.md, `monmem`).
 * This module must stay free of hono, zod and the dashboard (test/footprint/static_graph).
 */
import type { PlainAnswer } from "../runtime/types.ts";
import { ENDPOINT_NAMES, type EndpointName, type MonitorEndpoints } from "./endpoints.ts";

/** hono's `c.json` / `c.text` content types, so either path answers alike. */
const JSON_TYPE = "application/json";
const TEXT_TYPE = "text/plain; charset=UTF-8";

/** Path -> endpoint; nats-server also serves /subsz as /subscriptionsz. */
function endpointPaths(): Map<string, EndpointName> {
  const m = new Map<string, EndpointName>();
  for (const name of ENDPOINT_NAMES) m.set(`/${name}`, name);
  m.set("/subscriptionsz", "subsz");
  return m;
}

/** The answer to a GET of `path` with `query`; undefined when `path` is not an endpoint's. */
export type EndpointAnswer = (path: string, query: URLSearchParams) => PlainAnswer | undefined;

export function createEndpointAnswer(ep: MonitorEndpoints): EndpointAnswer {
  const paths = endpointPaths();
  return (path, query) => {
    const name = paths.get(path);
    if (name === undefined) return undefined;
    const r = ep.run[name](query);
    if (!r.ok) return { status: r.status, contentType: TEXT_TYPE, body: r.error };
    return { status: r.status ?? 200, contentType: JSON_TYPE, body: JSON.stringify(r.data) };
  };
}

/** Answers `req` when it is a GET of an endpoint; undefined when the app must (anything else). */
export type EndpointFetch = (req: Request) => Response | undefined;

export function createEndpointFetch(answer: EndpointAnswer): EndpointFetch {
  return (req) => {
    if (req.method !== "GET") return undefined;
    const url = new URL(req.url);
    const a = answer(url.pathname, url.searchParams);
    return a === undefined ? undefined : new Response(a.body, { status: a.status, headers: { "Content-Type": a.contentType } });
  };
}

/**
 * The same from a request line's target ("/connz?subs=1"), for a host that answers without a Request. A path the
 * URL parser would rewrite (percent escapes, dot segments) is left to the fetch path, which reads it as hono does.
 */
export function plainEndpointGet(answer: EndpointAnswer): (target: string) => PlainAnswer | undefined {
  return (target) => {
    const q = target.indexOf("?");
    const path = q < 0 ? target : target.slice(0, q);
    if (path.includes("%") || path.includes("/.") || path.includes("#")) return undefined;
    return answer(path, new URLSearchParams(q < 0 ? "" : target.slice(q + 1)));
  };
}
