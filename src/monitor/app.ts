/**
 * The monitoring HTTP app (hono): nats-server's endpoints and JSON shapes. Runtime-neutral: the entry point
 * serves `app.fetch` with whatever HTTP server the runtime has. The endpoints themselves live in endpoints.ts
 * (shared with the system account's `$SYS.REQ.*` services); this file only maps paths to them.
 */
import { type Context, Hono } from "hono";
import type { Server } from "../server/server.ts";
import { createMonitorEndpoints, ENDPOINT_NAMES, type EndpointName, type MonitorEndpoints } from "./endpoints.ts";
import type { VarzContext } from "./varz.ts";
import { mountDashboard } from "../dashboard/mount.ts";

/** `endpoints`: share the server's endpoint set (and its account counters) when one exists already. */
export function createMonitorApp(s: Server, ctx: VarzContext, endpoints?: MonitorEndpoints): Hono {
  const ep = endpoints ?? createMonitorEndpoints(s, ctx);
  const app = new Hono();

  // "/" is the live dashboard; it keeps the endpoint index links.
  mountDashboard(app, s, { endpoints: [...ENDPOINT_NAMES] });
  const serve = (name: EndpointName) => (c: Context) => {
    const r = ep.run[name](new URL(c.req.url).searchParams);
    if (!r.ok) return c.text(r.error, r.status as 400);
    return c.json(r.data, (r.status ?? 200) as 200);
  };
  for (const name of ENDPOINT_NAMES) app.get(`/${name}`, serve(name));
  app.get("/subscriptionsz", serve("subsz"));
  // NATS Streaming's pages (/streaming/serverz, ...), present while it runs; their section answers with the
  // data or an error text and status, as nats-streaming-server (indented JSON).
  app.get("/streaming/:page", (c) => {
    const f = s.monitorSections.get(`streaming/${c.req.param("page")}`);
    if (f === undefined) return c.text("404 page not found\n", 404);
    const r = f(new URL(c.req.url).searchParams) as { ok: true; data: unknown } | { ok: false; status: number; error: string };
    if (!r.ok) return c.text(r.error, r.status as 404);
    return c.body(JSON.stringify(r.data, null, 2), 200, { "Content-Type": "application/json" });
  });
  app.notFound((c) => c.text("404 page not found\n", 404));
  return app;
}
