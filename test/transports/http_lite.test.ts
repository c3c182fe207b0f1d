import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { currentRuntime } from "../../adapters/runtime/index.ts";
import { bodyLength, keepAlive, MAX_BODY, MAX_HEAD, parseHead, type RequestHead, serveHttpLite } from "../../transports/http_lite.ts";
import { openRaw } from "../../transports/raw_client.ts";
import type { HttpServer } from "../../src/runtime/types.ts";

const enc = new TextEncoder();
const head = (text: string): RequestHead => {
  const h = parseHead(enc.encode(text));
  assert.ok(typeof h === "object" && !("status" in h), `a head: ${JSON.stringify(h)}`);
  return h;
};
const refused = (text: string | Uint8Array): number | string => {
  const h = parseHead(typeof text === "string" ? enc.encode(text) : text);
  return typeof h === "object" && "status" in h ? h.status : "accepted";
};

describe("http_lite: request heads", () => {
  it("parses a head with CRLF or bare LF lines and waits for its blank line", () => {
    const h = head("GET /varz?x=1 HTTP/1.1\r\nHost: a:1\r\nX-Y:  z \r\n\r\nrest");
    assert.equal(h.method, "GET");
    assert.equal(h.target, "/varz?x=1");
    assert.equal(h.minor, 1);
    assert.deepEqual(h.headers, [["host", "a:1"], ["x-y", "z"]]);
    assert.equal(h.length, "GET /varz?x=1 HTTP/1.1\r\nHost: a:1\r\nX-Y:  z \r\n\r\n".length);
    assert.equal(head("GET / HTTP/1.0\nA: b\n\n").minor, 0);
    assert.equal(parseHead(enc.encode("GET / HTTP/1.1\r\nHost: a\r\n")), "more");
  });

  it("refuses what it does not serve with the status that says why", () => {
    assert.equal(refused("GET /\r\n\r\n"), 400);
    assert.equal(refused("GET / HTTP/2.0\r\n\r\n"), 505);
    assert.equal(refused("GET / HTTP/1.1\r\nno colon\r\n\r\n"), 400);
    assert.equal(refused("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400);
    assert.equal(refused("GET / HTTP/1.1\r\nBad Name: b\r\n\r\n"), 400);
    assert.equal(refused(new Uint8Array(MAX_HEAD + 1).fill(65)), 431);
    assert.equal(refused(`GET / HTTP/1.1\r\nA: ${"b".repeat(MAX_HEAD)}\r\n\r\n`), 431);
  });

  it("takes a body's length from Content-Length only", () => {
    assert.equal(bodyLength(head("GET / HTTP/1.1\r\n\r\n")), 0);
    assert.equal(bodyLength(head("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n")), 5);
    assert.deepEqual(bodyLength(head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")), { status: 501 });
    assert.deepEqual(bodyLength(head("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")), { status: 400 });
    assert.deepEqual(bodyLength(head("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")), { status: 400 });
    assert.deepEqual(bodyLength(head(`POST / HTTP/1.1\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`)), { status: 413 });
  });

  it("keeps a connection open as HTTP/1.0 and 1.1 say", () => {
    assert.equal(keepAlive(head("GET / HTTP/1.1\r\n\r\n")), true);
    assert.equal(keepAlive(head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")), false);
    assert.equal(keepAlive(head("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n")), false);
    assert.equal(keepAlive(head("GET / HTTP/1.0\r\n\r\n")), false);
    assert.equal(keepAlive(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")), true);
  });
});

describe("http_lite: request heads, any bytes (property)", () => {
  const STATUSES = new Set([400, 413, 431, 501, 505]);
  const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
  const value = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });

  it("never throws on any bytes, and answers a head, more, or a known refusal", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom("", "\r\n\r\n", "\n\n"), (bytes, tail) => {
        const b = new Uint8Array(bytes.length + tail.length);
        b.set(bytes);
        b.set(enc.encode(tail), bytes.length);
        const h = parseHead(b);
        if (h === "more") return;
        if ("status" in h) return assert.ok(STATUSES.has(h.status), `status ${h.status}`);
        assert.ok(h.length > 0 && h.length <= b.length);
        const len = bodyLength(h);
        assert.ok(typeof len === "number" ? len >= 0 && len <= MAX_BODY : STATUSES.has(len.status));
        assert.equal(typeof keepAlive(h), "boolean");
      }),
      { numRuns: 500 },
    );
  });

  it("gives back the method, target and headers of any well-formed head, split anywhere", () => {
    fc.assert(
      fc.property(
        token,
        fc.stringMatching(/^\/[!-~]{0,30}$/),
        fc.constantFrom(0, 1),
        fc.array(fc.tuple(token, value), { maxLength: 8 }),
        fc.boolean(),
        fc.nat(),
        (method, target, minor, headers, crlf, cut) => {
          const eol = crlf ? "\r\n" : "\n";
          const text = `${method} ${target} HTTP/1.${minor}${eol}${headers.map(([k, v]) => `${k}: ${v}${eol}`).join("")}${eol}`;
          const b = enc.encode(text);
          const at = cut % b.length;
          if (at > 0) assert.equal(parseHead(b.subarray(0, at)), "more", "a prefix waits for the rest");
          const h = head(text);
          assert.equal(h.method, method);
          assert.equal(h.target, target);
          assert.equal(h.minor, minor);
          assert.equal(h.length, b.length);
          assert.deepEqual(h.headers, headers.map(([k, v]) => [k.toLowerCase(), v.trim()]));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("http_lite: serving over the runtime's TCP transport", () => {
  const rt = currentRuntime();
  let server: HttpServer;
  before(async () => {
    server = await serveHttpLite(rt.tcp, { host: "127.0.0.1", port: 0 }, async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/boom") throw new Error("handler failed");
      if (url.pathname === "/empty") return new Response(null, { status: 204 });
      const body = req.method === "POST" ? await req.text() : "";
      return new Response(`${req.method} ${url.pathname}${url.search} host=${req.headers.get("host")} body=${body}`, {
        headers: { "content-type": "text/plain", "x-seen": "1" },
      });
    });
  });
  after(() => server.close());

  const at = () => ({ host: "127.0.0.1", port: server.port });

  it("answers pipelined requests on one connection in order, with their lengths", async () => {
    const c = await openRaw(rt.tcp, at());
    try {
      c.write("GET /a?x=1 HTTP/1.1\r\nHost: h:1\r\n\r\nPOST /b HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3\r\n\r\nxyzHEAD /c HTTP/1.1\r\n\r\n");
      const text = await c.waitFor((t) => (t.match(/HTTP\/1\.1 200 OK/g) ?? []).length === 3);
      const parts = text.split("HTTP/1.1 ").slice(1);
      assert.match(parts[0], new RegExp(`content-length: ${"GET /a?x=1 host=h:1 body=".length}\r\n`));
      assert.ok(parts[0].endsWith("\r\n\r\nGET /a?x=1 host=h:1 body="), parts[0]);
      assert.match(parts[0], /content-type: text\/plain\r\n/);
      assert.ok(parts[1].endsWith("\r\n\r\nPOST /b host=h:1 body=xyz"), parts[1]);
      assert.ok(parts[2].endsWith("\r\n\r\n"), "HEAD: the head only");
      assert.match(parts[2], new RegExp(`content-length: ${"HEAD /c host=null body=".length}\r\n`));
      assert.equal(c.isClosed(), false, "HTTP/1.1 keeps the connection");
    } finally {
      c.close();
    }
  });

  it("closes after the answer when asked, and on HTTP/1.0 without keep-alive", async () => {
    for (const req of ["GET /x HTTP/1.1\r\nConnection: close\r\n\r\n", "GET /x HTTP/1.0\r\n\r\n"]) {
      const c = await openRaw(rt.tcp, at());
      c.write(req);
      await c.closed;
      assert.match(c.text(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*connection: close\r\n[\s\S]*\r\n\r\nGET \/x /);
    }
  });

  it("refuses a malformed request and a chunked body, and closes", async () => {
    for (const [req, status] of [["NOT HTTP\r\n\r\n", "400 Bad Request"], ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "501 Not Implemented"]]) {
      const c = await openRaw(rt.tcp, at());
      c.write(req);
      await c.closed;
      assert.match(c.text(), new RegExp(`^HTTP/1\\.1 ${status}\\r\\n`));
    }
  });

  it("tells a client that expects 100-continue to send its body, once, then answers", async () => {
    const c = await openRaw(rt.tcp, at());
    try {
      c.write("POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
      assert.equal(await c.waitFor("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
      c.write("ab");
      c.write("cd");
      const text = await c.waitFor("body=abcd");
      assert.equal(text.split("100 Continue").length, 2, "told once");
      assert.match(text, /HTTP\/1\.1 200 OK\r\n[\s\S]*POST \/p host=h body=abcd$/);
    } finally {
      c.close();
    }
  });

  it("answers 500 when the handler throws, 204 without a body, and keeps serving", async () => {
    const c = await openRaw(rt.tcp, at());
    try {
      c.write("GET /boom HTTP/1.1\r\n\r\nGET /empty HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n");
      const text = await c.waitFor("body=");
      assert.match(text, /^HTTP\/1\.1 500 Internal Server Error\r\n[\s\S]*\r\n\r\nInternal Server Error/);
      assert.match(text, /HTTP\/1\.1 204 No Content\r\n(?![\s\S]*content-length: 0\r\n[\s\S]*HTTP\/1\.1 200)/);
      assert.match(text, /HTTP\/1\.1 200 OK\r\n[\s\S]*GET \/ok /);
    } finally {
      c.close();
    }
  });

  it("serves the runtime's own fetch, twice over a kept connection", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`http://127.0.0.1:${server.port}/f${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-seen"), "1");
      assert.equal(await res.text(), `GET /f${i} host=127.0.0.1:${server.port} body=`);
    }
  });

  it("keeps serving after connections that send garbage (property-generated, bounded)", async () => {
    const garbage = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 300 }), { numRuns: 20, seed: 14 });
    for (const g of garbage) {
      const c = await openRaw(rt.tcp, at());
      c.write(g);
      c.write("\r\n\r\n");
      c.close();
    }
    const res = await fetch(`http://127.0.0.1:${server.port}/after`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `GET /after host=127.0.0.1:${server.port} body=`);
  });

  it("close() ends idle kept connections and the listener", async () => {
    const s2 = await serveHttpLite(rt.tcp, { host: "127.0.0.1", port: 0 }, () => new Response("x"));
    const c = await openRaw(rt.tcp, { host: "127.0.0.1", port: s2.port });
    c.write("GET / HTTP/1.1\r\n\r\n");
    await c.waitFor("\r\n\r\nx");
    await s2.close();
    await c.closed;
    await assert.rejects(openRaw(rt.tcp, { host: "127.0.0.1", port: s2.port }));
  });
});

describe("http_lite: a body that is not all there at once (server-sent events)", () => {
  const rt = currentRuntime();
  let server: HttpServer;
  let cancelled = 0;
  let onCancel: (() => void) | undefined;
  let push: ((s: string) => void) | undefined;
  before(async () => {
    server = await serveHttpLite(rt.tcp, { host: "127.0.0.1", port: 0 }, () => {
      const te = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(te.encode("data: first\n\n"));
          push = (s) => (s === "" ? c.close() : c.enqueue(te.encode(s)));
        },
        cancel() {
          cancelled++;
          onCancel?.();
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    });
  });
  after(() => server.close());

  it("goes out chunked as it comes, ends with the last chunk, and the connection serves the next request", async () => {
    const c = await openRaw(rt.tcp, { host: "127.0.0.1", port: server.port });
    try {
      c.write("GET /events HTTP/1.1\r\n\r\n");
      const head = await c.waitFor("data: first\n\n\r\n");
      assert.match(head, /^HTTP\/1\.1 200 OK\r\n[\s\S]*transfer-encoding: chunked\r\n/);
      assert.doesNotMatch(head, /content-length/);
      assert.ok(head.endsWith("\r\n\r\nd\r\ndata: first\n\n\r\n"), JSON.stringify(head));
      push!("data: second\n\n");
      await c.waitFor("e\r\ndata: second\n\n\r\n");
      push!("");
      await c.waitFor("\r\n0\r\n\r\n");
      c.clear();
      c.write("GET /events HTTP/1.1\r\nConnection: close\r\n\r\n");
      await c.waitFor("data: first");
      push!("");
      await c.closed;
      assert.ok(c.text().endsWith("0\r\n\r\n"));
    } finally {
      c.close();
    }
  });

  it("the stream's source hears when the client leaves, and the runtime's fetch reads it", async () => {
    const before = cancelled;
    const heard = new Promise<void>((r) => (onCancel = r));
    const c = await openRaw(rt.tcp, { host: "127.0.0.1", port: server.port });
    c.write("GET /events HTTP/1.1\r\n\r\n");
    await c.waitFor("data: first");
    c.close();
    await c.closed;
    await heard;
    assert.equal(cancelled, before + 1);
    const res = await fetch(`http://127.0.0.1:${server.port}/events`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), "data: first\n\n");
    push!("");
    assert.equal((await reader.read()).done, true);
  });
});

describe("http_lite: plain answers (what the monitoring endpoints give, without Request/Response)", () => {
  const rt = currentRuntime();
  const answers: Record<string, { status: number; contentType: string; body: string }> = {
    "/j": { status: 200, contentType: "application/json", body: `{"a":"é","n":1}` },
    "/e?x=1": { status: 400, contentType: "text/plain; charset=UTF-8", body: "invalid x: 1" },
    "/u": { status: 503, contentType: "application/json", body: `{"status":"unavailable"}` },
  };
  const asResponse = (a: { status: number; contentType: string; body: string }) =>
    new Response(a.body, { status: a.status, headers: { "Content-Type": a.contentType } });
  const fetched: string[] = [];
  let viaFetch: HttpServer;
  let viaPlain: HttpServer;
  before(async () => {
    viaFetch = await serveHttpLite(rt.tcp, { host: "127.0.0.1", port: 0 }, (req) => {
      const u = new URL(req.url);
      const a = answers[u.pathname + u.search];
      return a !== undefined ? asResponse(a) : new Response("other", { status: 404 });
    });
    let n = 0;
    viaPlain = await serveHttpLite(rt.tcp, {
      host: "127.0.0.1",
      port: 0,
      plain: (target) => {
        if (target === "/throws") throw new Error("plain failed");
        const a = answers[target];
        return ++n % 2 === 0 ? Promise.resolve(a) : a; // sync and async answers alike
      },
    }, (req) => {
      const u = new URL(req.url);
      fetched.push(`${req.method} ${u.pathname}${u.search}`);
      const a = answers[u.pathname + u.search];
      return a !== undefined ? asResponse(a) : new Response("other", { status: 404 });
    });
  });
  after(async () => {
    await viaFetch.close();
    await viaPlain.close();
  });

  const exchange = async (port: number, requests: string, answersExpected: number): Promise<string> => {
    const c = await openRaw(rt.tcp, { host: "127.0.0.1", port });
    try {
      c.write(requests);
      const text = await c.waitFor((t) => (t.match(/HTTP\/1\.1 \d{3}/g) ?? []).length === answersExpected && /\r\n\r\n[^]*$/.test(t));
      if (/connection: close/.test(text)) await c.closed;
      return c.text().replace(/date: [^\r]*\r\n/g, "date: -\r\n");
    } finally {
      c.close();
    }
  };

  it("writes the bytes the same Response gets, kept-alive and pipelined, and closes when asked", async () => {
    const reqs = "GET /j HTTP/1.1\r\n\r\nGET /e?x=1 HTTP/1.1\r\n\r\nGET /u HTTP/1.1\r\n\r\nGET /j HTTP/1.1\r\nConnection: close\r\n\r\n";
    const a = await exchange(viaFetch.port, reqs, 4);
    const b = await exchange(viaPlain.port, reqs, 4);
    assert.match(a, /content-length: 16\r\n/);
    assert.equal(b, a);
    assert.deepEqual(fetched, [], "the plain answers built no Request");
  });

  it("leaves HEAD, other methods, declined targets and a throwing plain to fetch", async () => {
    fetched.length = 0;
    const reqs = "HEAD /j HTTP/1.1\r\n\r\nPOST /j HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /other HTTP/1.1\r\n\r\nGET /throws HTTP/1.1\r\nConnection: close\r\n\r\n";
    const a = await exchange(viaFetch.port, reqs, 4);
    const b = await exchange(viaPlain.port, reqs, 4);
    assert.equal(b, a);
    assert.deepEqual(fetched, ["HEAD /j", "POST /j", "GET /other", "GET /throws"]);
  });
});
