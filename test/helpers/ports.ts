// Ports a test must know before its server binds them: a cluster whose routes name every node, a server restarted
// on the port it had. Everything else binds port 0 / -1 and reads the port back; these are the exceptions.
//
// A port picked in the kernel's ephemeral range (Linux 32768–60999, macOS 49152–65535) can be taken between the
// pick and the bind, or between a server's stop and its restart, by any outgoing connection or port-0 bind on the
// machine: with many copies of a test at once that happened (EADDRINUSE on a cluster's restart). Fixed ports are
// therefore picked below that range, where the kernel hands out nothing on its own, and reserved for this process
// by a file created exclusively (`wx`), so that two test processes never pick the same one; a reservation whose
// process is gone is taken over. A port is checked free by binding it before it is handed out.
import { createServer } from "node:net";
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The range fixed ports are picked from: above the well-known services, below every kernel's ephemeral range. */
export const FIXED_PORT_RANGE = { low: 20_000, high: 32_767 } as const;

const reservations = join(tmpdir(), "petrel-test-ports");
const mine = new Set<number>();
let releaseOnExit = false;

/** This process's reservations go with it (a crashed process's are taken over as stale). */
function release(): void {
  for (const port of mine) {
    try {
      unlinkSync(join(reservations, String(port)));
    } catch {
      // Already gone.
    }
  }
}

/** The kernel's ephemeral range where it can be read (Linux); undefined elsewhere. */
export function ephemeralRange(): { low: number; high: number } | undefined {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    return Number.isInteger(low) && Number.isInteger(high) ? { low, high } : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code === "EPERM";
  }
}

/** Reserves `port` for this process; false when another live process holds it. */
function reserve(port: number): boolean {
  const file = join(reservations, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      return true;
    } catch (e) {
      if ((e as { code?: unknown }).code !== "EEXIST") throw e;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(file, "utf8"));
    } catch {
      // Removed meanwhile: try again.
    }
    if (holder === process.pid || (Number.isInteger(holder) && holder > 0 && alive(holder))) return false;
    try {
      unlinkSync(file);
    } catch {
      // Another process took the stale reservation over first; the next `wx` says who won.
    }
  }
  return false;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * A port no other process binds on its own until this process exits: outside the kernel's ephemeral range,
 * reserved against other test processes, free when handed out. For ports that must be named before the server
 * that binds them starts; a server that can bind -1 and report its port should.
 */
export async function freePort(): Promise<number> {
  const eph = ephemeralRange();
  if (eph && eph.low <= FIXED_PORT_RANGE.high && eph.high >= FIXED_PORT_RANGE.low) {
    throw new Error(`the kernel's ephemeral ports ${eph.low}-${eph.high} overlap the test's fixed ports ${FIXED_PORT_RANGE.low}-${FIXED_PORT_RANGE.high}`);
  }
  mkdirSync(reservations, { recursive: true });
  if (!releaseOnExit) {
    releaseOnExit = true;
    process.once("exit", release);
    // Deno's test runner ends without Node's "exit" event; its own `unload` comes instead.
    (globalThis as { addEventListener?: (type: string, fn: () => void) => void }).addEventListener?.("unload", release);
  }
  const span = FIXED_PORT_RANGE.high - FIXED_PORT_RANGE.low + 1;
  for (let tries = 0; tries < 200; tries++) {
    const port = FIXED_PORT_RANGE.low + Math.floor(Math.random() * span);
    if (mine.has(port) || !reserve(port)) continue;
    mine.add(port);
    if (await bindable(port)) return port;
    // Bound by something that is not a test of ours (a long-lived service): keep it reserved, so nobody retries it.
  }
  throw new Error(`no free port in ${FIXED_PORT_RANGE.low}-${FIXED_PORT_RANGE.high} after 200 tries`);
}

/**
 * A listen that failed because the port is taken. Bun's error says only "Failed to listen at 127.0.0.1" in its
 * message; the code says why.
 */
export function isAddrInUse(e: unknown): boolean {
  const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
  return code === "EADDRINUSE" || /AddrInUse|EADDRINUSE|address already in use/i.test(String(e));
}

/**
 * `start` binds ports from `freePort`; should one be bound by something outside the tests all the same, it runs
 * again (picking new ones) up to `attempts` times in all; `undo` stops what a failed attempt had started.
 */
export async function startOnFreePorts(start: (attempt: number) => Promise<void>, undo: () => Promise<void>, attempts = 3): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      return await start(attempt);
    } catch (e) {
      await undo();
      if (attempt >= attempts || !isAddrInUse(e)) throw e;
    }
  }
}
