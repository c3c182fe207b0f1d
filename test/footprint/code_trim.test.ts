/**
 * Bun's own code pages given back once a server no longer runs them (transports/code_trim.ts, code_trim_bun.ts):
 * which mappings may be trimmed, the setting, the schedule, and a Bun server against one with the trim off, on the
 * same traffic. Petrel runs on
 * Bun whichever runtime runs this test.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readlinkSync } from "node:fs";
import { CodeTrim, FIRST_TRIM_MS, trimPeriodMs, trimPieces, trimRanges } from "../../transports/code_trim.ts";
import { type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { connectReady } from "../helpers/raw.ts";

const EXE = "/opt/bun/bin/bun.exe";
// A Bun process's mappings of its executable (Bun 1.4.5 here), a library and an anonymous mapping.
const MAPS = [
  `00200000-01a39000 r--p 00000000 fe:00 5309009                            ${EXE}`,
  `01a40000-0684a000 r-xp 01838000 fe:00 5309009                            ${EXE}`,
  `0684a000-0685f000 rw-p 06641000 fe:00 5309009                            ${EXE}`,
  `0685f000-06867000 r--p 06656000 fe:00 5309009                            ${EXE}`,
  `06867000-06868000 rw-p 0665e000 fe:00 5309009                            ${EXE}`,
  `07000000-07001000 r-xp 00000000 fe:00 5309010                            ${EXE}.old`,
  `08000000-08001000 r-xp 00000000 fe:00 5309011                            /other${EXE}`,
  `2d5c00000-2d5e00000 rw-p 00000000 00:00 0 `,
  `7f9b8b261000-7f9b8b3b7000 r-xp 00026000 fe:00 339380                     /usr/lib/x86_64-linux-gnu/libc.so.6`,
  "",
].join("\n");

describe("code trim: which mappings", () => {
  it("takes the executable's code and its read-only segment at offset 0, nothing written, nothing else", () => {
    assert.deepEqual(trimRanges(MAPS, EXE), [
      { start: 0x200000, len: 0x1a39000 - 0x200000 },
      { start: 0x1a40000, len: 0x684a000 - 0x1a40000 },
    ]);
    assert.deepEqual(trimRanges(MAPS, "/nowhere/bun"), []);
    assert.deepEqual(trimRanges(`${MAPS.split("\n")[1]} (deleted)\n`, EXE), [], "a replaced binary is left alone");
  });

  it("cuts the mappings into pieces of at most the given size, in order, covering each range exactly", () => {
    const ranges = [{ start: 0x200000, len: 0x250000 }, { start: 0x1a40000, len: 0x1000 }];
    assert.deepEqual(trimPieces(ranges, 0x100000), [
      { start: 0x200000, len: 0x100000 },
      { start: 0x300000, len: 0x100000 },
      { start: 0x400000, len: 0x50000 },
      { start: 0x1a40000, len: 0x1000 },
    ]);
    assert.deepEqual(trimPieces([], 0x100000), []);
  });

  it("reads PETREL_CODE_TRIM_MS: default 1000, 0 is off, anything else that is not a whole number stops start-up", () => {
    assert.equal(trimPeriodMs(undefined), 1000);
    assert.equal(trimPeriodMs(""), 1000);
    assert.equal(trimPeriodMs("250"), 250);
    assert.equal(trimPeriodMs("0"), 0);
    for (const bad of ["-1", "1.5", "often", "Infinity"]) assert.throws(() => trimPeriodMs(bad), /PETREL_CODE_TRIM_MS/);
  });
});

describe("code trim: when", () => {
  /** A CodeTrim on a hand-run clock: `due` holds the timers, `fire` runs the next one. */
  function scripted(periodMs: number, opens = true) {
    const due: Array<{ f: () => void; ms: number }> = [];
    let trimmed = 0;
    const t = new CodeTrim({
      periodMs,
      open: () => Promise.resolve(opens ? () => void trimmed++ : undefined),
      later: (f, ms) => void due.push({ f, ms }),
    });
    const fire = async () => {
      const next = due.shift();
      assert.ok(next, "a timer is due");
      next.f();
      await Promise.resolve();
      await Promise.resolve();
    };
    return { t, due, fire, trimmed: () => trimmed };
  }

  it("trims once after the first listener, then a period after the first activity that follows, never while idle", async () => {
    const s = scripted(1000);
    s.t.activity(); // before the first trim is opened: nothing scheduled
    assert.equal(s.due.length, 0);
    s.t.start();
    s.t.start(); // a second listener starts nothing more
    assert.deepEqual(s.due.map((d) => d.ms), [FIRST_TRIM_MS]);
    await s.fire();
    assert.equal(s.trimmed(), 1);
    assert.equal(s.due.length, 0, "idle: no timer");
    s.t.activity();
    s.t.activity();
    assert.deepEqual(s.due.map((d) => d.ms), [1000], "one trim due however many reads");
    await s.fire();
    assert.equal(s.trimmed(), 2);
    assert.equal(s.t.trims, 2);
    s.t.activity();
    assert.equal(s.due.length, 1);
  });

  it("does nothing when off (0) or where the trim cannot be opened", async () => {
    const off = scripted(0);
    off.t.start();
    off.t.activity();
    assert.equal(off.due.length, 0);
    const none = scripted(1000, false);
    none.t.start();
    await none.fire();
    none.t.activity();
    assert.equal(none.due.length, 0);
    assert.equal(none.trimmed(), 0);
  });
});

/** Resident KiB of the process's executable mappings (/proc/PID/smaps). */
function exeResidentKb(pid: number): number {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  let kb = 0;
  let inExe = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inExe = line.endsWith(` ${exe}`);
    else if (inExe && line.startsWith("Rss:")) kb += parseInt(line.slice(4), 10);
  }
  return kb;
}

/** A subscriber and 2,000 publishes through one connection, then a PING answered: the server ran its paths. */
async function traffic(port: number): Promise<void> {
  const { c } = await connectReady(port);
  try {
    const pubs = "PUB trim.x 5\r\nhello\r\n".repeat(2000);
    await c.send(`SUB trim.> 1\r\n${pubs}PING\r\n`);
    await c.readUntil("PONG\r\n");
    assert.equal(c.text().split("MSG trim.x 1 5\r\n").length - 1, 2000);
  } finally {
    c.close();
  }
}

describe("code trim: a Bun server against one with it off", { skip: process.platform !== "linux" }, () => {
  let trimmed: RunningServer;
  let kept: RunningServer;
  before(async () => {
    [trimmed, kept] = await Promise.all([
      startServer("petrel", { runtime: "bun", env: { PETREL_CODE_TRIM_MS: "100" } }),
      startServer("petrel", { runtime: "bun", env: { PETREL_CODE_TRIM_MS: "0" } }),
    ]);
  });
  after(() => Promise.all([trimmed?.stop(), kept?.stop()]));

  it("holds less than half the executable's pages after the same traffic, and serves on", async () => {
    await Promise.all([traffic(trimmed.port), traffic(kept.port)]);
    const keptKb = exeResidentKb(kept.pid);
    assert.ok(keptKb > 16 * 1024, `an untrimmed Bun server keeps its start-up code: ${keptKb} KiB`);
    const trimmedKb = await waitFor("the trimmed server's code pages given back", () => {
      const kb = exeResidentKb(trimmed.pid);
      return kb < keptKb / 2 ? kb : false;
    });
    assert.ok(trimmedKb < keptKb / 2);
    // what it runs next is mapped back from the page cache
    await traffic(trimmed.port);
  });
});
