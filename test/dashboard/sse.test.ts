// The dashboard tests' SSE reader (sse.ts): a wait pending when the stream ends fails at once, saying so. It
// learned of the end a microtask after it told its waiters, so such a wait ran out its timeout and reported
// "0 events seen" as if the stream were still open (serverless's one live-stream failure, Bun, full suite).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { openSse } from "./sse.ts";

describe("the dashboard tests' SSE reader", () => {
  it("fails a pending wait as soon as the stream ends, naming the end", async () => {
    let end: () => void = () => {};
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("event: hello\ndata: {}\n\n");
      end = () => res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const s = await openSse(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await s.waitFor((e) => e.event === "hello", 5_000);
      const waiting = s.waitFor((e) => e.event === "tick", 5_000);
      end();
      await assert.rejects(waiting, /^Error: stream ended \(1 events seen, HTTP 200, \d+ bytes read/);
      await s.close();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
