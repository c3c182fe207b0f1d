/**
 * Mounts the live dashboard on the monitoring app: the page at "/" (which keeps nats-server's endpoint index
 * links), its script and style, the one event stream, and the read-only message browser. It reads the
 * monitoring endpoints through the app itself, so it shows nothing they do not, and it is served wherever the
 * monitoring listener is bound (and however: Bun, Deno, or serve.ts's fetch handler).
 */
import type { Context, Hono } from "hono";
import type { Server } from "../server/server.ts";
import { CLIENT_JS } from "./client_bundle.ts";
import { DashboardHub, type LocalGet } from "./hub.ts";
import { MessageBrowser, type Result } from "./browse.ts";
import { PAGE_CSS, pageHtml } from "./page.ts";
import { parseView } from "./view.ts";

export interface DashboardOptions {
  /** The monitoring endpoints, linked from the page as nats-server's index does. */
  endpoints: readonly string[];
  intervalMs?: number;
}

// Everything the page loads comes from this server; nothing may frame it.
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export function mountDashboard(app: Hono, s: Server, opts: DashboardOptions): DashboardHub {
  const local: LocalGet = async (path) => {
    const res = await app.fetch(new Request(`http://localhost${path}`));
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    return await res.json() as Record<string, unknown>;
  };
  // The browser reads messages; only where clients need no credentials, i.e. where anyone who can reach the
  // client port can read them already.
  const browseAllowed = () => !s.authRequired;
  const hub = new DashboardHub(local, {
    intervalMs: opts.intervalMs,
    browse: browseAllowed,
    browseAccount: () => s.accounts.global.name,
  });
  const browser = new MessageBrowser(s);
  s.onShutdown(() => {
    hub.close();
    browser.close();
  });

  const asset = (body: string, type: string) => (c: Context) =>
    c.body(body, 200, { "content-type": type, "cache-control": "no-cache", ...SECURITY_HEADERS });
  app.get("/", (c) => c.html(pageHtml(s.serverName, opts.endpoints), 200, SECURITY_HEADERS));
  app.get("/dashboard/app.js", asset(CLIENT_JS, "text/javascript; charset=utf-8"));
  app.get("/dashboard/app.css", asset(PAGE_CSS, "text/css; charset=utf-8"));

  app.get("/dashboard/events", (c) => {
    const parsed = parseView(new URL(c.req.url).searchParams);
    if (!parsed.ok) return c.text(parsed.error, 400);
    return new Response(hub.open(parsed.view), {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        "x-content-type-options": "nosniff",
      },
    });
  });

  const reply = <T>(c: Context, r: Result<T>) => {
    if (r.ok) return c.json(r.value, 200, { "cache-control": "no-store" });
    const status = r.status >= 400 && r.status <= 599 ? r.status : 500;
    return c.json({ error: r.error }, status as 400);
  };
  const guard = (c: Context) =>
    browseAllowed() ? undefined : c.json(
      { error: "the message browser is off: this server requires client credentials, the dashboard has none" },
      403,
    );
  const intParam = (c: Context, name: string, dflt: number): number | string => {
    const v = c.req.query(name);
    if (v === undefined || v === "") return dflt;
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 ? n : `invalid ${name}: ${v}`;
  };
  app.get("/dashboard/api/streams/:stream/messages", async (c) => {
    const denied = guard(c);
    if (denied) return denied;
    const seq = intParam(c, "seq", 1);
    const limit = intParam(c, "limit", 25);
    if (typeof seq === "string") return c.json({ error: seq }, 400);
    if (typeof limit === "string") return c.json({ error: limit }, 400);
    return reply(c, await browser.messages(c.req.param("stream"), seq, c.req.query("subject") ?? "", limit));
  });
  app.get("/dashboard/api/kv/:bucket/keys", async (c) => {
    const denied = guard(c);
    if (denied) return denied;
    return reply(c, await browser.kvKeys(c.req.param("bucket"), c.req.query("q") ?? ""));
  });
  app.get("/dashboard/api/kv/:bucket/history", async (c) => {
    const denied = guard(c);
    if (denied) return denied;
    return reply(c, await browser.kvHistory(c.req.param("bucket"), c.req.query("key") ?? ""));
  });
  return hub;
}
