import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLogger, formatTime, silentLogger } from "../../src/log/logger.ts";

describe("logger", () => {
  const at = new Date(2024, 0, 2, 3, 4, 5, 67); // local time, as nats-server prints it

  it("formats time like nats-server: 2006/01/02 15:04:05.000000", () => {
    assert.equal(formatTime(at), "2024/01/02 03:04:05.067000");
  });

  it("writes [pid] time [LVL] text lines", () => {
    const lines: string[] = [];
    const log = createLogger({ debug: false, trace: false, logtime: true, pid: 42, write: (l) => lines.push(l), now: () => at });
    log.info("Server is ready");
    log.warn("w");
    log.error("e");
    log.fatal("f");
    assert.deepEqual(lines, [
      "[42] 2024/01/02 03:04:05.067000 [INF] Server is ready\n",
      "[42] 2024/01/02 03:04:05.067000 [WRN] w\n",
      "[42] 2024/01/02 03:04:05.067000 [ERR] e\n",
      "[42] 2024/01/02 03:04:05.067000 [FTL] f\n",
    ]);
  });

  it("omits the time without logtime", () => {
    const lines: string[] = [];
    const log = createLogger({ debug: false, trace: false, logtime: false, pid: 7, write: (l) => lines.push(l) });
    log.info("x");
    assert.deepEqual(lines, ["[7] [INF] x\n"]);
  });

  it("debug and trace only when enabled", () => {
    const quiet: string[] = [];
    const q = createLogger({ debug: false, trace: false, logtime: false, pid: 1, write: (l) => quiet.push(l) });
    q.debug("d");
    q.trace("t");
    assert.deepEqual(quiet, []);
    assert.equal(q.debugEnabled, false);
    assert.equal(q.traceEnabled, false);
    const loud: string[] = [];
    const l = createLogger({ debug: true, trace: true, logtime: false, pid: 1, write: (x) => loud.push(x) });
    l.debug("d");
    l.trace("t");
    assert.deepEqual(loud, ["[1] [DBG] d\n", "[1] [TRC] t\n"]);
    assert.equal(l.debugEnabled, true);
    assert.equal(l.traceEnabled, true);
  });

  it("silentLogger drops everything", () => {
    silentLogger.info("x");
    silentLogger.error("x");
    assert.equal(silentLogger.debugEnabled, false);
  });
});
