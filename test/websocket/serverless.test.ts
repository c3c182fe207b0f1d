// The serverless entry: the broker as a fetch application. In process (hosted the way Bun.serve / deno serve
// host a default export) and as the real serve.ts under the running runtime's own `serve` convention.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { wsconnect } from "@nats-io/nats-core";
import { applyDefaults } from "../../src/config/normalize.ts";
import type { Listener } from "../../src/transport/types.ts";
import { serveFetchApp } from "../../transports/ws.ts";
import { createServerlessBroker, prepareServerlessOptions, type ServerlessBroker, serverlessOptions } from "../../transports/ws_serverless.ts";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rawWebSocket } from "./raw_ws.ts";

const te = new TextEncoder();
const ROOT = fileURLToPath(new URL("../../", import.meta.url).href);
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

describe("serverless fetch application", () => {
  let broker: ServerlessBroker;
  let http: Listener;
  before(async () => {
    broker = await createServerlessBroker(applyDefaults({ host: "127.0.0.1", port: -1 }));
    const s = { host: "127.0.0.1", port: 0, handshake_timeout: 2000 };
    http = await serveFetchApp(broker.app, {
      ...s,
      no_tls: true,
      same_origin: false,
      allowed_origins: [],
      compression: false,
      max_message: 1 << 23,
      max_pending: 1 << 26,
    });
  });
  after(async () => {
    await http?.close();
    await broker?.stop();
  });

  it("serves NATS clients over WebSocket and monitoring on the same port", async () => {
    const url = `ws://127.0.0.1:${http.port}`;
    const a = await wsconnect({ servers: url, reconnect: false, timeout: 5000, name: "edge-a" });
    const b = await wsconnect({ servers: `${url}/any/path`, reconnect: false, timeout: 5000 });
    try {
      const got: string[] = [];
      a.subscribe("edge.>", { callback: (_e, m) => void got.push(m.string()) });
      b.subscribe("edge.svc", { callback: (_e, m) => void m.respond(te.encode(`re:${m.string()}`)) });
      await a.flush();
      await b.flush();
      b.publish("edge.news", "hi");
      assert.equal((await a.request("edge.svc", "q", { timeout: 3000 })).string(), "re:q");
      await a.flush();
      assert.deepEqual(got, ["hi", "q"]);

      const base = `http://127.0.0.1:${http.port}`;
      const varz = await (await fetch(`${base}/varz`)).json() as {
        connections: number;
        websocket: { no_tls: boolean };
      };
      assert.equal(varz.connections, 2);
      assert.equal(varz.websocket.no_tls, true);
      const connz = await (await fetch(`${base}/connz`)).json() as {
        connections: Array<{ name?: string; type: string }>;
      };
      assert.equal(connz.connections.find((c) => c.name === "edge-a")?.type, "websocket");
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: "ok" });
      const missing = await fetch(`${base}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("answers a bad upgrade with an HTTP error", async () => {
    const raw = await rawWebSocket(http.port, { "Sec-WebSocket-Key": "" });
    assert.equal(raw.status, 400);
    assert.match(raw.body, /key missing/);
  });
});

describe("serverless options from the environment", () => {
  const io = {
    readFile: (p: string) => {
      try {
        return readFileSync(p, "utf8");
      } catch {
        return undefined;
      }
    },
    env: () => undefined,
  };
  it("reads PETREL_CONFIG and PETREL_ARGS like mod.ts's flags, and reports errors as values", async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-serve-"));
    try {
      const conf = join(dir, "edge.conf");
      writeFileSync(conf, "server_name: edge1\nwebsocket { no_tls: true, same_origin: true }\n");
      await prepareServerlessOptions({ config: conf });
      const r = serverlessOptions({ config: conf, args: "-n from-flags" }, io);
      assert.ok(r.ok, r.ok ? "" : r.error);
      assert.equal(r.value.server_name, "from-flags", "flags override the file");
      assert.equal(r.value.websocket?.same_origin, true);
      const d = serverlessOptions({}, io);
      assert.ok(d.ok);
      assert.equal(d.value.websocket, undefined);
      const bad = serverlessOptions({ config: join(dir, "missing.conf") }, io);
      assert.ok(!bad.ok);
      assert.match(bad.error, /missing\.conf/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("serve.ts under the runtime's own serve convention", () => {
  let child: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), "petrel-serve-"));
  after(() => {
    child?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts from the default export and accepts wsconnect and monitoring requests", async () => {
    const conf = join(dir, "edge.conf");
    writeFileSync(conf, "server_name: edge-serve\n");
    const base = { ...process.env, PETREL_CONFIG: conf };
    const [cmd, args, env] = isBun
      ? [process.execPath, ["run", "serve.ts"], { ...base, PORT: "0", NODE_ENV: "production" }]
      : [process.execPath, ["serve", "-A", "--host", "127.0.0.1", "--port", "0", "serve.ts"], {
        ...base,
        NO_COLOR: "1",
      }];
    child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve.ts did not start:\n${out}`)), 15_000);
      const onData = (d: Uint8Array) => {
        out += new TextDecoder().decode(d);
        const m = /https?:\/\/[^\s:]+:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child?.stdout?.on("data", onData);
      child?.stderr?.on("data", onData);
      child?.once("exit", (code) => reject(new Error(`serve.ts exited (${code}):\n${out}`)));
    });
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const varz = await (await fetch(`http://127.0.0.1:${port}/varz`)).json() as { server_name: string };
    assert.equal(varz.server_name, "edge-serve");
    const nc = await wsconnect({ servers: `ws://127.0.0.1:${port}`, reconnect: false, timeout: 5000 });
    try {
      const sub = nc.subscribe("x", { max: 1 });
      nc.publish("x", "round trip");
      for await (const m of sub) assert.equal(m.string(), "round trip");
    } finally {
      await nc.close();
    }
  });
});
