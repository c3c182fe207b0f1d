#!/usr/bin/env node
// Where a running Bun server's CPU goes, by JavaScript function and JIT tier (FTL/DFG/Baseline), from `perf` samples
// and the JIT dump JavaScriptCore writes when started with BUN_JSC_useJITDump=1 (`/tmp/jit-<tid>-<pid>-*`).
// `bun --cpu-prof` samples too coarsely under load, and plain `perf` shows JIT code as bare addresses.
// An FTL function's share includes what it inlined (the callers' names, not the callees', carry the time).
//
// Usage: BUN_JSC_useJITDump=1 bun run mod.ts ... &   then, while it is under load:
//   node bench/bun_jit_profile.mjs <pid> [seconds=3] [top=25]
// Needs `perf` (software clock events are enough: no hardware counters on this host) and root or perf_event_paranoid <= 1.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const pid = Number(process.argv[2]);
const seconds = Number(process.argv[3] ?? 3);
const top = Number(process.argv[4] ?? 25);
if (!Number.isInteger(pid) || pid <= 0) {
  console.error("usage: node bench/bun_jit_profile.mjs <pid> [seconds] [top]");
  process.exit(2);
}

/** JIT_CODE_LOAD records of a jitdump file (perf's format: a header, then records of id, size, timestamp, body). */
function codeLoads(file) {
  const b = readFileSync(file);
  const out = [];
  let off = b.readUInt32LE(8); // header size
  while (off + 16 <= b.length) {
    const id = b.readUInt32LE(off);
    const size = b.readUInt32LE(off + 4);
    if (size === 0 || off + size > b.length) break;
    if (id === 0) {
      const addr = Number(b.readBigUInt64LE(off + 16 + 16));
      const len = Number(b.readBigUInt64LE(off + 16 + 24));
      const nameAt = off + 16 + 40;
      const name = b.toString("utf8", nameAt, b.indexOf(0, nameAt));
      out.push({ addr, end: addr + len, name: name.replace(/#\w{6}(:\[.*)?$/, "") });
    }
    off += size;
  }
  return out.sort((x, y) => x.addr - y.addr);
}

const dumps = readdirSync("/tmp").filter((f) => new RegExp(`^jit-\\d+-${pid}-`).test(f)).map((f) => join("/tmp", f));
if (dumps.length === 0) {
  console.error(`no /tmp/jit-*-${pid}-* file: start the server with BUN_JSC_useJITDump=1`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), "jitprof-"));
try {
  const data = join(dir, "perf.data");
  execFileSync("perf", ["record", "-q", "-F", "1999", "-o", data, "-p", String(pid), "--", "sleep", String(seconds)], { stdio: "ignore" });
  const script = execFileSync("perf", ["script", "-i", data, "-F", "ip,dso"], { maxBuffer: 1 << 30 }).toString();
  // Read the dump after the samples: code compiled during the window is in it too.
  const loads = dumps.flatMap(codeLoads).sort((x, y) => x.addr - y.addr);
  const counts = new Map();
  let total = 0;
  for (const line of script.split("\n")) {
    const t = line.trim();
    if (t === "") continue;
    const [ipText, dso = "?"] = t.split(/\s+/);
    const ip = parseInt(ipText, 16);
    total++;
    // The last load at or below ip that covers it (JIT memory is reused: the latest code there is the live one).
    let lo = 0;
    let hi = loads.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (loads[mid].addr <= ip) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    let name;
    for (let i = at; i >= 0 && i > at - 64; i--) {
      if (loads[i].addr <= ip && ip < loads[i].end) {
        name = loads[i].name;
        break;
      }
    }
    name ??= `(native) ${dso.replace(/^\(|\)$/g, "").split("/").pop()}`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  console.log(`${total} samples over ${seconds} s (pid ${pid})`);
  for (const [name, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * n) / total).toFixed(2).padStart(6)}%  ${name}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
