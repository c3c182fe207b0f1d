/**
 * Guards Bun's idle footprint: a plain start, its first client (CONNECT, PING, SUB, PUB) and the server's idle
 * timers make JavaScriptCore compile nothing. The first baseline-JIT compile of anything brings the compiler's own
 * code into memory for good (+1–1.5 MB of an idle server's ~36 MB); a function gets compiled once it has been
 * called ~34 times or looped ~500 times. Start-up work therefore runs in batches and plain loops (the system
 * account's subscriptions, the flag table, log times, server ids), see bench/RESULTS.md "JIT-free start".
 * JavaScriptCore reports every compile on stderr when asked (BUN_JSC_report*CompileTimes); Petrel runs on Bun
 * whichever runtime runs this test. PETREL_JIT_NICE=0: the compiler-thread sweep is a load feature of its own
 * (adapters/runtime/compiler_threads.ts), started by CPU use that a loaded test machine may show.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { connectReady } from "../helpers/raw.ts";

const REPORT = { BUN_JSC_reportBaselineCompileTimes: "1", BUN_JSC_reportDFGCompileTimes: "1", BUN_JSC_reportFTLCompileTimes: "1" };

describe("a plain start on Bun compiles nothing", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer("petrel", { runtime: "bun", env: { ...REPORT, PETREL_JIT_NICE: "0" } });
  });
  after(() => server.stop());

  it("through start-up, the first client's CONNECT, PING, SUB and PUB, and the stop signal", async () => {
    const { c } = await connectReady(server.port);
    try {
      await c.send("PING\r\n");
      await c.readUntil("PONG\r\n");
      await c.send("SUB first.client 1\r\nPUB first.client 5\r\nhello\r\nPING\r\n");
      await c.readUntil("PONG\r\n");
      assert.match(c.text(), /MSG first\.client 1 5\r\nhello\r\n/);
    } finally {
      c.close();
    }
    await server.stop();
    const logs = server.logs();
    // What the stop itself runs (closing subscriptions) comes after this line and does not count.
    const end = logs.indexOf(`Trapped "terminated" signal`);
    assert.ok(end > 0, logs);
    const compiled = logs.slice(0, end).split("\n").filter((l) => l.includes("Optimized "));
    assert.deepEqual(compiled.map((l) => l.slice(0, l.indexOf(":["))), []);
  });
});
