/**
 * A GET of a monitoring endpoint is answered without the hono app (src/monitor/endpoint_fetch.ts), so a server
 * polled by a metrics agent never loads hono or the dashboard; the answers must be the app's, byte for byte.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { createMonitorApp } from "../../src/monitor/app.ts";

/** Fields that change from one call to the next (clock, RSS, the sublist's match cache that a `test=` fills). */
const unstable = (body: string) =>
  body.replace(/"(now|uptime)":"[^"]*"/g, `"$1":"-"`).replace(/"(mem|num_cache|num_matches|cache_hit_rate)":[\d.]+/g, `"$1":0`);

async function snapshot(res: Response): Promise<{ status: number; headers: string[][]; body: string }> {
  const headers = [...res.headers].map(([k, v]) => [k, v]).sort((a, b) => a[0].localeCompare(b[0]));
  return { status: res.status, headers, body: unstable(await res.text()) };
}

describe("monitoring endpoints without the app", () => {
  let p: Petrel;
  let base: string;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "endpoint-fetch-"));
    p = await startPetrel({ args: ["-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-js", "-sd", dir] });
    base = p.monitorUrl!;
  });
  after(async () => {
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const paths = [
    "/varz", "/connz", "/connz?subs=1&sort=cid", "/connz?sort=nope", "/connz?state=closed", "/routez", "/gatewayz",
    "/leafz", "/leafz?acc=A", "/subsz", "/subsz?subs=1&test=foo.bar", "/subsz?test=foo.*", "/subscriptionsz",
    "/accountz", "/accountz?acc=nope", "/accountz?acc=$G", "/accstatz", "/accstatz?unused=1", "/jsz", "/jsz?accounts=1",
    "/healthz", "/healthz?js-enabled-only=true",
  ];

  it("polling every endpoint over HTTP loads neither hono nor the dashboard", async () => {
    for (const path of paths) {
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      assert.ok(res.status === 200 || res.status === 400 || res.status === 503, `${path}: ${res.status}`);
    }
    assert.equal(p.monitorAppLoaded, false, "an endpoint's GET went through the hono app");
    const page = await fetch(`${base}/`);
    assert.match(await page.text(), /varz/);
    assert.equal(p.monitorAppLoaded, true, "the dashboard loads the app");
  });

  it("answers as the hono app does: status, headers and body", async () => {
    const app = createMonitorApp(p.server, { httpHost: "127.0.0.1", httpPort: Number(new URL(base).port), memory: () => 0 }, await p.loadEndpoints());
    for (const path of [...paths, "/varz/", "/nope", "/VARZ"]) {
      for (const method of ["GET", "HEAD", "POST"]) {
        const req = () => new Request(`http://localhost${path}`, { method });
        const ours = await snapshot(await p.monitorFetch(req()));
        const hono = await snapshot(await app.fetch(req()));
        assert.deepEqual(ours, hono, `${method} ${path}`);
      }
    }
  });

  it("gives the same answers as text for a host that writes them itself (http_lite), and declines the rest", async () => {
    for (const path of [...paths, "/varz/", "/nope", "/", "/%76arz", "/./varz", "/dashboard/app.js"]) {
      const plain = await p.monitorPlainGet(path);
      const res = await p.monitorFetch(new Request(`http://localhost${path}`));
      if (plain === undefined) {
        assert.ok(!paths.includes(path), `${path}: declined`);
        continue;
      }
      const ours = { status: plain.status, headers: [["content-type", plain.contentType]], body: unstable(plain.body) };
      assert.deepEqual(ours, await snapshot(res), path);
    }
    assert.equal(await p.monitorPlainGet("/%76arz"), undefined, "an escaped path is left to the URL parser");
  });
});
