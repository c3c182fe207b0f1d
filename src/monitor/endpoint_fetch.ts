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
import { ENDPOINT_NAMES, type EndpointName, type MonitorEndpoints } from "./endpoints.ts";

/** hono's `c.json` / `c.text` content types, so either path answers alike. */
const JSON_TYPE = { "Content-Type": "application/json" } as const;
const TEXT_TYPE = { "Content-Type": "text/plain; charset=UTF-8" } as const;

/** Path -> endpoint; nats-server also serves /subsz as /subscriptionsz. */
function endpointPaths(): Map<string, EndpointName> {
  const m = new Map<string, EndpointName>();
  for (const name of ENDPOINT_NAMES) m.set(`/${name}`, name);
  m.set("/subscriptionsz", "subsz");
  return m;
}

/** Answers `req` when it is a GET of an endpoint; undefined when the app must (anything else). */
export type EndpointFetch = (req: Request) => Response | undefined;

export function createEndpointFetch(ep: MonitorEndpoints): EndpointFetch {
  const paths = endpointPaths();
  return (req) => {
    if (req.method !== "GET") return undefined;
    const url = new URL(req.url);
    const name = paths.get(url.pathname);
    if (name === undefined) return undefined;
    const r = ep.run[name](url.searchParams);
    if (!r.ok) return new Response(r.error, { status: r.status, headers: TEXT_TYPE });
    return new Response(JSON.stringify(r.data), { status: r.status ?? 200, headers: JSON_TYPE });
  };
}
