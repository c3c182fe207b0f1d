/**
 * The monitoring HTTP app (hono): nats-server's endpoints and JSON shapes. Runtime-neutral: the entry point
 * serves `app.fetch` with whatever HTTP server the runtime has.
 */
import { type Context, Hono } from "hono";
import { isValidPublishSubject } from "../subjects/subject.ts";
import type { Server } from "../server/server.ts";
import { connz, parseConnzQuery } from "./connz.ts";
import { subsz } from "./subsz.ts";
import { varz, type VarzContext } from "./varz.ts";
import { rfc3339 } from "./format.ts";
import { mountDashboard } from "../dashboard/mount.ts";

const ENDPOINTS = ["varz", "connz", "routez", "gatewayz", "leafz", "subsz", "accountz", "jsz", "healthz"];

export function createMonitorApp(s: Server, ctx: VarzContext): Hono {
  const app = new Hono();
  const q = (url: string) => new URL(url).searchParams;

  // "/" is the live dashboard; it keeps the endpoint index links.
  mountDashboard(app, s, { endpoints: ENDPOINTS });
  app.get("/varz", (c) => c.json(varz(s, ctx)));
  app.get("/connz", (c) => {
    const parsed = parseConnzQuery(q(c.req.url));
    if (typeof parsed === "string") return c.text(parsed, 400);
    return c.json(connz(s, parsed));
  });
  const subszRoute = (url: string, c: Context) => {
    const qs = q(url);
    const test = qs.get("test");
    if (test !== null && test !== "" && !isValidPublishSubject(test)) {
      return c.text(`invalid test subject, must be valid publish subject: ${test}`, 400);
    }
    return c.json(subsz(s, qs));
  };
  app.get("/subsz", (c) => subszRoute(c.req.url, c));
  app.get("/subscriptionsz", (c) => subszRoute(c.req.url, c));
  app.get("/routez", (c) => c.json(section(s, "routez", q(c.req.url)) ?? {
    server_id: s.serverId,
    server_name: s.serverName,
    now: rfc3339(new Date()),
    num_routes: 0,
    routes: [],
  }));
  app.get("/gatewayz", (c) => c.json(section(s, "gatewayz", q(c.req.url)) ?? {
    server_id: s.serverId,
    now: rfc3339(new Date()),
    outbound_gateways: {},
    inbound_gateways: {},
  }));
  app.get("/leafz", (c) => c.json(section(s, "leafz", q(c.req.url)) ?? {
    server_id: s.serverId,
    now: rfc3339(new Date()),
    leafnodes: 0,
    leafs: [],
  }));
  app.get("/accountz", (c) => c.json({
    server_id: s.serverId,
    now: rfc3339(new Date()),
    system_account: "$SYS",
    accounts: ["$G", "$SYS"],
  }));
  app.get("/jsz", (c) => c.json(section(s, "jsz", q(c.req.url)) ?? {
    server_id: s.serverId,
    now: rfc3339(new Date()),
    disabled: true,
    config: {},
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
  }));
  app.get("/healthz", (c) => {
    const check = s.monitorSections.get("healthz");
    const problem = !s.running ? "server not running" : check !== undefined ? (check() as string | undefined) : undefined;
    if (problem !== undefined) return c.json({ status: "unavailable", error: problem }, 503);
    return c.json({ status: "ok" });
  });
  app.notFound((c) => c.text("404 page not found\n", 404));
  return app;
}

function section(s: Server, name: string, q: URLSearchParams): unknown {
  const f = s.monitorSections.get(name);
  return f?.(q);
}
