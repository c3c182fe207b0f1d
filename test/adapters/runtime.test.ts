import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { spawn } from "node:child_process";
import { Buffer } from "node:buffer";
import process from "node:process";
import { currentRuntime, detectRuntime } from "../../adapters/runtime/index.ts";
import { openRaw } from "../../transports/raw_client.ts";

const rt = currentRuntime();
const dir = `${tmpdir()}/petrel-rt-${rt.pid}-${crypto.getRandomValues(new Uint32Array(1))[0]}`;

after(async () => {
  rt.reopenAppendFiles();
  await import("node:fs/promises").then((fs) => fs.rm(dir, { recursive: true, force: true }));
});

describe("runtime services", () => {
  it("knows which runtime it is on", () => {
    const expected = typeof Bun !== "undefined" ? "bun" : "deno";
    assert.equal(detectRuntime(), expected);
    assert.equal(rt.name, expected);
    assert.match(rt.version, /^\d+\.\d+\.\d+/);
    assert.ok(Number.isInteger(rt.pid) && rt.pid > 0);
    assert.ok(Array.isArray(rt.args()));
    assert.equal(currentRuntime(), rt, "one instance per process");
  });

  it("reads the environment", () => {
    assert.equal(typeof rt.env("PATH"), "string");
    assert.equal(rt.env("PETREL_SURELY_UNSET_VARIABLE_42"), undefined);
  });

  it("follows a link chain to the regular file at its end (the log time zone's /etc/localtime)", async () => {
    const fs = await import("node:fs");
    const at = `${dir}/links`;
    fs.mkdirSync(`${at}/zoneinfo/Etc`, { recursive: true });
    fs.mkdirSync(`${at}/etc`);
    fs.writeFileSync(`${at}/zoneinfo/Etc/UTC`, "TZif");
    fs.symlinkSync("Etc/UTC", `${at}/zoneinfo/UTC`);
    fs.symlinkSync("../zoneinfo/UTC", `${at}/etc/localtime`);
    fs.symlinkSync(`${at}/zoneinfo/Nowhere`, `${at}/etc/dangling`);
    const real = fs.realpathSync(`${at}/zoneinfo/Etc/UTC`);
    assert.equal(rt.realFilePathSync(`${at}/etc/localtime`), real, "two links, relative");
    assert.equal(rt.realFilePathSync(`${at}/zoneinfo/Etc/UTC`), real, "a file is its own end");
    assert.equal(rt.realFilePathSync(`${at}/etc/dangling`), undefined);
    assert.equal(rt.realFilePathSync(`${at}/etc/missing`), undefined);
    assert.equal(rt.realFilePathSync(`${at}/zoneinfo`), undefined, "a directory is no file");
  });

  it("reads, writes, appends and removes files", async () => {
    await rt.mkdir(`${dir}/a/b`);
    await rt.mkdir(`${dir}/a/b`); // exists: fine
    const f = `${dir}/a/b/x.conf`;
    assert.equal(rt.readTextFileSync(f), undefined);
    await rt.writeTextFile(f, "port: 4222\n");
    assert.equal(rt.readTextFileSync(f), "port: 4222\n");
    assert.deepEqual(rt.readBytesFileSync(f), new TextEncoder().encode("port: 4222\n"));
    assert.equal(rt.readBytesFileSync(`${f}.missing`), undefined);
    await rt.writeTextFile(`${f}.empty`, "");
    assert.deepEqual(rt.readBytesFileSync(`${f}.empty`), new Uint8Array(0));
    assert.equal(rt.readTextFileSync(`${f}.empty`), "");
    assert.match(rt.readTextFileSync("/proc/self/status") ?? "", /VmRSS/, "a /proc file as text");
    await rt.writeTextFile(`${f}.bom`, "\uFEFFport: 1 ✓\n");
    assert.equal(rt.readTextFileSync(`${f}.bom`), "\uFEFFport: 1 ✓\n", "a byte-order mark is kept, as node:fs and Deno keep it");
    await rt.removeFile(`${f}.bom`);
    assert.ok((rt.readBytesFileSync("/proc/self/statm")?.length ?? 0) > 0, "a /proc file (no size to map)");
    assert.throws(() => rt.readBytesFileSync(`${dir}/a`), "a directory is an error, not a missing file");
    await rt.removeFile(`${f}.empty`);
    const log = `${dir}/a/server.log`;
    rt.appendFile(log, "line 1\n");
    rt.appendFile(log, "line 2 ✓\n");
    assert.equal(rt.readTextFileSync(log), "line 1\nline 2 ✓\n");
    rt.reopenAppendFiles();
    await rt.removeFile(log);
    rt.appendFile(log, "after rotation\n");
    assert.equal(rt.readTextFileSync(log), "after rotation\n");
    await rt.removeFile(f);
    await rt.removeFile(f); // missing: fine
    assert.equal(rt.readTextFileSync(f), undefined);
    assert.throws(() => rt.readTextFileSync(`${dir}/a`), "a directory is an error, not a missing file");
  });

  it("serves HTTP on a random port of the given host, quietly", async () => {
    const srv = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/healthz") return Response.json({ status: "ok" });
      if (url.pathname === "/boom") throw new Error("handler bug");
      return new Response("not found", { status: 404 });
    });
    try {
      assert.equal(srv.host, "127.0.0.1");
      assert.ok(srv.port > 0);
      const ok = await fetch(`http://127.0.0.1:${srv.port}/healthz`);
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { status: "ok" });
      const missing = await fetch(`http://127.0.0.1:${srv.port}/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
      const boom = await fetch(`http://127.0.0.1:${srv.port}/boom`);
      assert.equal(boom.status, 500);
      await boom.body?.cancel();
    } finally {
      await srv.close();
    }
    await assert.rejects(fetch(`http://127.0.0.1:${srv.port}/healthz`));
  });

  it("serves plain HTTP over its own TCP transport (http_lite), not the runtime's HTTP server", async () => {
    // Bun.serve / Deno.serve bring their HTTP stacks' code in when they listen (~0.6 MB on Bun, ~2.2 MB on Deno),
    // for a monitoring port that is mostly idle. http_lite refuses a chunked request body (501, then closes); the
    // runtimes' servers take one and call the handler.
    let called = 0;
    const srv = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, () => {
      called++;
      return new Response("taken");
    });
    try {
      const raw = await openRaw(rt.tcp, { host: "127.0.0.1", port: srv.port });
      try {
        raw.write("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
        const text = await raw.waitFor(/\r\n\r\n/);
        assert.match(text, /^HTTP\/1\.1 501 Not Implemented\r\n/);
        assert.equal(called, 0);
      } finally {
        raw.close();
      }
    } finally {
      await srv.close();
    }
  });

  it("refuses to serve HTTP on a port in use", async () => {
    const srv = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, () => new Response("a"));
    try {
      await assert.rejects(rt.serveHttp({ host: "127.0.0.1", port: srv.port }, () => new Response("b")));
    } finally {
      await srv.close();
    }
  });

  it("offers TCP", async () => {
    const l = await rt.tcp.listen({ host: "127.0.0.1", port: 0 }, (conn) => ({
      onData: (d) => void conn.write(d.slice()),
      onDrain() {},
      onClose() {},
    }));
    try {
      const raw = await openRaw(rt.tcp, { host: "127.0.0.1", port: l.port });
      raw.write("ping");
      assert.equal(await raw.waitFor("ping"), "ping");
      raw.close();
      await raw.closed;
    } finally {
      await l.close();
    }
  });

  it("registers signal handlers without firing them", () => {
    let fired = false;
    rt.onSignal("SIGUSR2", () => {
      fired = true;
    });
    assert.equal(fired, false);
  });

  it("writes to stdout and stderr synchronously: nothing lost at exit, verbatim, in order", async () => {
    rt.writeStdout("");
    rt.writeStderr("");
    // More than a pipe holds (64 KiB), written just before exit: every byte must still arrive.
    const n = 5000;
    const exe = typeof Bun !== "undefined" ? process.execPath : Deno.execPath();
    const script = new URL("./fixtures/stdio_child.ts", import.meta.url).pathname;
    const args = typeof Bun !== "undefined" ? ["run", script, String(n)] : ["run", "-A", "--no-check", script, String(n)];
    const child = spawn(exe, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 3);
    const errText = Buffer.concat(err).toString("utf8");
    const outText = Buffer.concat(out).toString("utf8");
    let wantErr = "";
    let wantOut = "";
    for (let i = 0; i < n; i++) {
      wantErr += `err ${i} %s %d ✓\n`;
      wantOut += `out ${i}\n`;
    }
    assert.equal(errText, wantErr + "no newline at the end");
    assert.equal(outText, wantOut);
  });

  it("reports its resident memory and the host's interface addresses", () => {
    assert.ok(rt.memoryRss() > 1_000_000, "RSS in bytes");
    assert.ok(rt.interfaceAddresses().includes("127.0.0.1"), "loopback is an interface address");
  });
});
