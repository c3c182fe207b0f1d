#!/usr/bin/env node
// Latency across gateways under a burst (issue 14 item 5).
//
// Three clusters A, B, C of one server each, joined by gateways. Every gateway connection goes through a
// loopback delay proxy (a child process): each direction of each connection delays every chunk it carries by
// 60 ms + uniform 0..20 ms, preserving order (a per-connection FIFO released by timers). Each server advertises
// its proxy's address, so gossiped URLs also go through a proxy. A subscriber on B subscribes to one subject; a
// publisher on A sends probes until one arrives (the interest crossed the gateway), then 10k x 64 B as fast as
// the client can, each carrying its send time. The subscriber records arrival latency (one process, one clock).
//
// Usage (from the repository root, node or bun):
//   node bench/gateway_burst.mjs [--targets nats,bun,deno] [--bursts 3 (after one warm-up)] [--count 10000] [--size 64]
//                                [--delay 60] [--jitter 20] [--servers 1 (per cluster)] [--nice 0] [--prof DIR] [--root DIR]
// Ports 17000-17199: clients 17001+, gateways 17021+, proxies 17041+, monitoring 17061+, routes 17081+ (one each per server).
import { spawn } from "node:child_process";
import { createServer, connect as tcpConnect } from "node:net";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
function opt(name, dflt) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}

// ---- the delay proxy (child mode) ----

function proxyMain() {
  // --proxy <delayMs> <jitterMs> <payloadSize> <harness timeOrigin> <listen>:<target> ...
  const delay = Number(args[1]);
  const jitter = Number(args[2]);
  warmHarness(Number(args[3]));
  const tap = new Tap(Number(args[3]), Number(args[4]));
  process.on("message", (m) => {
    if (m === "reset") tap.reset();
    else if (m === "stats") process.send(tap.stats());
  });
  for (const pair of args.slice(5)) {
    const [listen, target] = pair.split(":").map(Number);
    createServer((inbound) => {
      inbound.setNoDelay(true);
      const outbound = tcpConnect(target, "127.0.0.1");
      outbound.setNoDelay(true);
      pipeDelayed(inbound, outbound, delay, jitter, tap);
      pipeDelayed(outbound, inbound, delay, jitter, tap);
      const end = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on("error", end).on("close", end);
      outbound.on("error", end).on("close", end);
    }).listen(listen, "127.0.0.1");
  }
  process.send("ready");
  // Runs until killed.
}

/**
 * Where a burst's time goes: the proxy reads the RMSG/HMSG frames of each gateway stream and notes, for each
 * burst message, how long after its send time it reached the proxy (the sending cluster's share) and left it.
 */
class Tap {
  constructor(size, harnessOrigin) {
    this.size = size;
    this.offset = performance.timeOrigin - harnessOrigin; // our clock -> the harness's
    this.reset();
  }
  reset() {
    this.in = [];
    this.out = [];
  }
  /** A scanner for one direction: returns the burst messages (send times) completed by each chunk. */
  scanner() {
    let rest = Buffer.alloc(0);
    return (chunk) => {
      const b = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      const sent = [];
      let o = 0;
      for (;;) {
        const eol = b.indexOf(10, o);
        if (eol < 0) break;
        const isMsg = (b[o] === 0x52 || b[o] === 0x48) && b[o + 1] === 0x4d && b[o + 2] === 0x53 && b[o + 3] === 0x47; // RMSG HMSG
        if (!isMsg) {
          o = eol + 1;
          continue;
        }
        const line = b.toString("latin1", o, eol).trim().split(" ");
        const n = Number(line[line.length - 1]);
        const end = eol + 1 + n + 2;
        if (end > b.length) break;
        if (n === this.size && b.readUInt32LE(eol + 1 + 8) !== 0xffffffff) sent.push(b.readDoubleLE(eol + 1));
        o = end;
      }
      rest = o >= b.length ? Buffer.alloc(0) : Buffer.from(b.subarray(o));
      return sent;
    };
  }
  now() {
    return performance.now() + this.offset;
  }
  stats() {
    return { in: this.in, out: this.out };
  }
}

/** `from` -> `to`, each chunk released at max(previous release, arrival + delay + U(0, jitter)). */
function pipeDelayed(from, to, delay, jitter, tap) {
  const queue = [];
  const scan = tap.scanner();
  let head = 0;
  let last = 0;
  let timer;
  const release = () => {
    timer = undefined;
    const now = performance.now();
    while (head < queue.length && queue[head].at <= now + 0.5) {
      const q = queue[head];
      to.write(q.chunk);
      if (q.sent.length > 0) {
        const t = tap.now();
        for (const s of q.sent) tap.out.push(t - s);
      }
      queue[head++] = undefined;
    }
    if (head === queue.length) {
      queue.length = 0;
      head = 0;
    } else {
      if (head > 1024) {
        queue.splice(0, head);
        head = 0;
      }
      timer = setTimeout(release, Math.max(0, queue[head].at - now));
    }
  };
  from.on("data", (chunk) => {
    const at = Math.max(last, performance.now() + delay + Math.random() * jitter);
    last = at;
    const sent = scan(chunk);
    if (sent.length > 0) {
      const t = tap.now();
      for (const s of sent) tap.in.push(t - s);
    }
    queue.push({ at, chunk, sent });
    if (timer === undefined) timer = setTimeout(release, Math.max(0, at - performance.now()));
  });
}

// ---- the run ----

async function main() {
  // --root DIR: the Petrel checkout to run (default: this one), for before/after runs in one sitting.
  const root = opt("root", fileURLToPath(new URL("..", import.meta.url)));
  const targets = opt("targets", "nats,bun,deno").split(",");
  const bursts = Number(opt("bursts", "3"));
  const count = Number(opt("count", "10000"));
  const size = Math.max(16, Number(opt("size", "64")));
  const delay = Number(opt("delay", "60"));
  const jitter = Number(opt("jitter", "20"));
  // --prof DIR: Petrel on Bun writes a CPU profile per server there (on its exit after the run).
  const prof = opt("prof", undefined);
  // --nice N: run the harness, the proxy and the servers at this priority (root only for N < 0), so that a
  // loaded machine's other work disturbs the figures less.
  const niceness = Number(opt("nice", "0"));
  if (niceness !== 0) setPriority(niceness);
  // --servers N: servers per cluster (routes between them). The publisher is on A's first server, the
  // subscriber on B's last: with N > 1 the message may cross a route in B after the gateway.
  const perCluster = Number(opt("servers", "1"));
  const clusters = ["A", "B", "C"];
  const servers = clusters.flatMap((c, ci) => Array.from({ length: perCluster }, (_, j) => ({ cluster: c, ci, k: ci * perCluster + j, name: perCluster === 1 ? c : `${c}${j + 1}` })));
  const names = servers.map((s) => s.name);
  const port = (base, k) => base + k + 1;
  const CLIENT = 17000, GATEWAY = 17020, PROXY = 17040, HTTP = 17060, ROUTE = 17080;
  const pubIdx = 0;
  const subIdx = 2 * perCluster - 1;

  const dir = mkdtempSync(join(tmpdir(), "gwburst-"));
  const confs = servers.map((sv) => {
    const gws = clusters.map((c) => {
      const urls = servers.filter((o) => o.cluster === c).map((o) => `"nats://127.0.0.1:${port(PROXY, o.k)}"`).join(", ");
      return `    { name: ${c}, urls: [${urls}] }`;
    }).join("\n");
    const routes = servers.filter((o) => o.cluster === sv.cluster && o.k !== sv.k).map((o) => `"nats://127.0.0.1:${port(ROUTE, o.k)}"`).join(", ");
    const cluster = perCluster === 1 ? "" : `cluster {
  name: ${sv.cluster}
  listen: 127.0.0.1:${port(ROUTE, sv.k)}
  routes: [${routes}]
}
`;
    const text = `server_name: ${sv.name}
listen: 127.0.0.1:${port(CLIENT, sv.k)}
http: 127.0.0.1:${port(HTTP, sv.k)}
${cluster}gateway {
  name: ${sv.cluster}
  listen: 127.0.0.1:${port(GATEWAY, sv.k)}
  advertise: 127.0.0.1:${port(PROXY, sv.k)}
  gateways: [
${gws}
  ]
}
`;
    const f = join(dir, `${sv.name}.conf`);
    writeFileSync(f, text);
    return f;
  });

  warmHarness(size);
  const proxyPairs = names.map((_, i) => `${port(PROXY, i)}:${port(GATEWAY, i)}`);
  const proxy = spawn(process.execPath, [fileURLToPath(import.meta.url), "--proxy", String(delay), String(jitter), String(size), String(performance.timeOrigin), ...proxyPairs], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  await new Promise((res) => proxy.once("message", res));
  const proxyStats = () => new Promise((res) => {
    proxy.once("message", res);
    proxy.send("stats");
  });

  const commands = {
    nats: (conf) => ["/usr/sbin/nats-server", "-c", conf],
    bun: (conf) => [join(root, "node_modules/.bin/bun"), ...(prof === undefined ? [] : ["--cpu-prof", "--cpu-prof-md", "--cpu-prof-interval=200", `--cpu-prof-dir=${prof}`]), "run", join(root, "mod.ts"), "-c", conf],
    deno: (conf) => [join(root, "node_modules/.bin/deno"), "run", "-A", join(root, "mod.ts"), "-c", conf],
  };
  const label = { nats: "nats-server", bun: "Petrel (Bun)", deno: "Petrel (Deno)" };

  console.log(`gateway burst: ${count} x ${size} B, ${perCluster} server(s) per cluster, A -> B, links ${delay} ms + U(0..${jitter}) ms each way, ${bursts} bursts per target`);
  const rows = [];
  /** Each target's first burst after start-up (code not yet compiled by the JIT): shown apart. */
  const cold = new Map();
  try {
    for (const t of targets) {
      const procs = confs.map((c) => {
        const cmd = commands[t](c);
        return spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "ignore", "pipe"], cwd: root });
      });
      const errs = procs.map(() => []);
      procs.forEach((p, i) => p.stderr.on("data", (d) => errs[i].push(d)));
      try {
        await waitGateways(servers.map((sv) => port(HTTP, sv.k)), clusters.length - 1, perCluster - 1);
        // Burst 0 warms up (JIT of servers, proxy and harness) and is not counted.
        for (let b = 0; b <= bursts; b++) {
          proxy.send("reset");
          const cpu0 = procs.map((p) => cpuMs(p.pid));
          const r = await burst(port(CLIENT, pubIdx), port(CLIENT, subIdx), `burst.${b}`, count, size);
          const cpu1 = procs.map((p) => cpuMs(p.pid));
          // CPU the servers of clusters A and B spent during the burst (probes and a 400 ms idle wait included).
          const cpuOf = (ci) => servers.filter((sv) => sv.ci === ci).reduce((n, sv) => n + cpu1[sv.k] - cpu0[sv.k], 0);
          r.cpuA = cpuOf(0);
          r.cpuB = cpuOf(1);
          // The mode A's outbound link to B was in for this burst (read after it: right after the link comes up,
          // the remote's interest-only switch may still be on its way through the delayed link).
          const mode = await interestMode(port(HTTP, pubIdx), "B");
          const st = await proxyStats();
          // Per message, in seq order (one gateway stream carries the burst): the sending cluster's share (send
          // to the proxy), the link's (held by the proxy), the receiving cluster's (proxy to the subscriber).
          const pq = (a, p) => (a.length === 0 ? NaN : [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))]);
          const whole = st.in.length === count && st.out.length === count;
          const link = whole ? st.in.map((v, i) => st.out[i] - v) : [];
          const recv = whole ? st.out.map((v, i) => r.lat[i] - v) : [];
          Object.assign(r, { a0: st.in[0] ?? NaN, b0: whole ? recv[0] : NaN, aP50: pq(st.in, 0.5), aP99: pq(st.in, 0.99), linkP50: pq(link, 0.5), bP50: pq(recv, 0.5), bP99: pq(recv, 0.99) });
          delete r.lat;
          if (b > 0) rows.push({ target: label[t], burst: b, mode, ...r });
          else cold.set(label[t], r);
          console.log(`${label[t].padEnd(14)} ${b === 0 ? "warm-up" : `burst ${b}`}: p50 ${f(r.p50)}  p90 ${f(r.p90)}  p99 ${f(r.p99)}  max ${f(r.max)} ms` +
            `  | publish ${f(r.pubMs)} ms, arrivals span ${f(r.spanMs)} ms, first ${f(r.first)} ms\n${"".padEnd(24)}first msg: A ${f(r.a0)} B ${f(r.b0)}; send->proxy p50 ${f(r.aP50)} p99 ${f(r.aP99)}, held by the link p50 ${f(r.linkP50)}, proxy->subscriber p50 ${f(r.bP50)} p99 ${f(r.bP99)} ms; CPU A ${f(r.cpuA)} B ${f(r.cpuB)} ms  (A->B ${mode})`);
        }
      } catch (e) {
        console.error(`${label[t]}: ${e instanceof Error ? e.message : e}`);
        for (const [i, e2] of errs.entries()) if (e2.length) console.error(`${names[i]} stderr: ${Buffer.concat(e2).toString().slice(-2000)}`);
      } finally {
        // SIGTERM first (a profile is written on a clean exit), SIGKILL after 5 s.
        for (const p of procs) p.kill("SIGTERM");
        const kill = setTimeout(() => procs.forEach((p) => p.kill("SIGKILL")), 5000);
        await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? 0 : new Promise((r) => p.once("exit", r)))));
        clearTimeout(kill);
      }
    }
  } finally {
    proxy.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
  // A summary: the median of each figure over the bursts.
  console.log(`\nMedians over ${bursts} bursts after the first (warm); the first burst after start-up (cold) last.`);
  console.log("\n| server | p50 | p90 | p99 | max | publish | arrivals span | A side p50 / p99 | link p50 | B side p50 / p99 | CPU ms A / B | cold: p50 / p99, CPU A / B |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const t of targets) {
    const rs = rows.filter((r) => r.target === label[t]);
    const c = cold.get(label[t]);
    if (rs.length === 0) continue;
    const med = (k) => {
      const v = rs.map((r) => r[k]).sort((a, b) => a - b);
      return f(v[Math.floor(v.length / 2)]);
    };
    console.log(`| ${label[t]} | ${med("p50")} | ${med("p90")} | ${med("p99")} | ${med("max")} | ${med("pubMs")} | ${med("spanMs")} | ${med("aP50")} / ${med("aP99")} | ${med("linkP50")} | ${med("bP50")} / ${med("bP99")} | ${med("cpuA")} / ${med("cpuB")} | ${c === undefined ? "-" : `${f(c.p50)} / ${f(c.p99)}, ${f(c.cpuA)} / ${f(c.cpuB)}`} |`);
  }
  process.exit(0);
}

function f(x) {
  return x.toFixed(1);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A plain TCP client past its CONNECT, for the burst. */
async function rawConnection(port) {
  let s;
  for (let i = 0; ; i++) {
    s = tcpConnect(port, "127.0.0.1");
    try {
      await new Promise((res, rej) => s.once("connect", res).once("error", rej));
      break;
    } catch (e) {
      if (i > 100) throw e;
      await sleep(100);
    }
  }
  s.setNoDelay(true);
  let seen = "";
  const pong = new Promise((res) => {
    const onData = (d) => {
      seen += d.toString("latin1");
      if (!seen.includes("PONG")) return;
      s.off("data", onData);
      res();
    };
    s.on("data", onData);
  });
  s.write('CONNECT {"verbose":false,"pedantic":false,"lang":"raw","protocol":1}\r\nPING\r\n');
  await pong;
  return s;
}

/** CPU time of a process (all its threads) and its descendants, in ms (Linux /proc/<pid>/task/<tid>/schedstat). */
function cpuMs(pid) {
  let ns = 0;
  const walk = (p) => {
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        try {
          ns += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, "utf8").split(" ")[0]);
        } catch { /* gone */ }
      }
      for (const k of readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) walk(k);
    } catch { /* gone */ }
  };
  walk(pid);
  return ns / 1e6;
}

async function getJson(port, path) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return r.json();
}

/** Every server has `n` outbound gateways (one per other cluster) and `routes` routes. */
async function waitGateways(httpPorts, n, routes) {
  const until = Date.now() + 30_000;
  for (;;) {
    let ok = true;
    for (const p of httpPorts) {
      try {
        const g = await getJson(p, "/gatewayz");
        // (Inbound ones are not counted: with several servers per cluster, one may have none from a cluster.)
        if (Object.keys(g.outbound_gateways ?? {}).length < n) ok = false;
        if (routes > 0 && ((await getJson(p, "/routez")).num_routes ?? 0) < routes) ok = false;
      } catch {
        ok = false;
      }
    }
    if (ok) return;
    if (Date.now() > until) throw new Error("gateways did not connect in 30 s");
    await sleep(200);
  }
}

/** The interest mode of the global account on A's outbound gateway to `remote`, as /gatewayz?accs=1 tells. */
async function interestMode(httpPort, remote) {
  try {
    const g = await getJson(httpPort, `/gatewayz?accs=1&gw_name=${remote}`);
    const accs = g.outbound_gateways?.[remote]?.accounts;
    const acc = accs?.find((a) => a.name === "$G");
    return acc?.interest_mode ?? "mode not shown";
  } catch {
    return "mode not shown";
  }
}

/** Probes until the interest has crossed, then one burst; latencies in ms. */
/**
 * A subscriber on a raw socket: MSG frames parsed by hand (fixed-size payloads), each payload's seq (u32 at 8)
 * and send time (f64 at 0) read on arrival.
 */
async function rawSubscriber(port, subject, size, onMsg) {
  const s = await rawConnection(port);
  let rest = Buffer.alloc(0);
  s.on("data", (d) => {
    const now = performance.now();
    const b = rest.length === 0 ? d : Buffer.concat([rest, d]);
    const o = parseMsgs(b, size, now, onMsg, () => s.write("PONG\r\n"));
    rest = o >= b.length ? Buffer.alloc(0) : Buffer.from(b.subarray(o));
  });
  await new Promise((res) => {
    let seen = "";
    const onData = (d) => {
      seen += d.toString("latin1");
      if (seen.includes("PONG")) {
        s.off("data", onData);
        res();
      }
    };
    s.on("data", onData);
    s.write(`SUB ${subject} 1\r\nPING\r\n`);
  });
  return s;
}

/** MSG frames of `size`-byte payloads in `b`: each one's seq and send time to onMsg; returns where parsing stopped. */
function parseMsgs(b, size, now, onMsg, onPing) {
  let o = 0;
  for (;;) {
    const eol = b.indexOf(10, o);
    if (eol < 0) break;
    if (b[o] === 0x4d) { // MSG
      const end = eol + 1 + size + 2;
      if (end > b.length) break;
      const p = eol + 1;
      onMsg(b.readUInt32LE(p + 8), b.readDoubleLE(p), now);
      o = end;
    } else {
      if (b[o] === 0x50 && b[o + 1] === 0x49) onPing(); // PING
      o = eol + 1;
    }
  }
  return o;
}

/**
 * The harness's and the proxy's own per-message code, run over a synthetic burst a few times before anything
 * is measured, so that the first target's first burst does not pay for their JIT warm-up.
 */
function warmHarness(size) {
  const head = Buffer.from(`MSG burst.0 1 ${size}\r\n`);
  const rhead = Buffer.from(`RMSG $G burst.0 ${size}\r\n`);
  const msgs = [], rmsgs = [];
  for (let i = 0; i < 10000; i++) {
    const p = Buffer.alloc(size);
    p.writeUInt32LE(i, 8);
    msgs.push(head, p, Buffer.from("\r\n"));
    rmsgs.push(rhead, p, Buffer.from("\r\n"));
  }
  const mb = Buffer.concat(msgs), rb = Buffer.concat(rmsgs);
  let n = 0;
  const tap = new Tap(size, performance.timeOrigin);
  for (let k = 0; k < 5; k++) {
    parseMsgs(mb, size, 0, () => n++, () => {});
    const scan = tap.scanner();
    for (let o = 0; o < rb.length; o += 8192) n += scan(rb.subarray(o, o + 8192)).length;
  }
  return n;
}

/** One PUB frame per message, payload: send time (f64 at 0), seq (u32 at 8). */
function frames(head, size, from, n, now) {
  const frame = head.length + size + 2;
  const chunk = new Uint8Array(n * frame);
  const view = new DataView(chunk.buffer);
  for (let k = 0; k < n; k++) {
    const o = k * frame;
    chunk.set(head, o);
    view.setFloat64(o + head.length, now, true);
    view.setUint32(o + head.length + 8, from + k, true);
    chunk[o + frame - 2] = 13;
    chunk[o + frame - 1] = 10;
  }
  return chunk;
}

const PROBE = 0xffffffff;

/** Probes until the interest has crossed, then one burst; latencies in ms. */
async function burst(pubPort, subPort, subject, count, size) {
  const lat = new Float64Array(count);
  let got = 0;
  let probeSeen = false;
  let first = Infinity;
  let last = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const sub = await rawSubscriber(subPort, subject, size, (seq, sent, now) => {
    if (seq === PROBE) {
      probeSeen = true;
      return;
    }
    lat[seq] = now - sent;
    if (now < first) first = now;
    last = now;
    if (++got === count) done();
  });
  const pub = await rawConnection(pubPort);
  const head = new TextEncoder().encode(`PUB ${subject} ${size}\r\n`);
  const until = Date.now() + 20_000;
  while (!probeSeen) {
    if (Date.now() > until) throw new Error("the subscription's interest did not reach A in 20 s");
    pub.write(frames(head, size, PROBE, 1, 0));
    await sleep(25);
  }
  // Let the probes still in flight arrive, so that the burst starts on an idle link.
  await sleep(400);
  // PUB frames written as fast as the socket takes them, in batches of BATCH messages stamped just before
  // their write (a client library's per-call cost would be part of the figure otherwise).
  const BATCH = 64;
  const t0 = performance.now();
  for (let i = 0; i < count; i += BATCH) pub.write(frames(head, size, i, Math.min(BATCH, count - i), performance.now()));
  const pubMs = performance.now() - t0;
  const timeout = setTimeout(() => done(), 30_000);
  await finished;
  clearTimeout(timeout);
  sub.destroy();
  pub.destroy();
  if (got < count) throw new Error(`only ${got} of ${count} arrived in 30 s`);
  const sorted = Array.from(lat).sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(count - 1, Math.floor(p * count))];
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: sorted[count - 1], pubMs, spanMs: last - first, first: first - t0, lat };
}

if (args[0] === "--proxy") proxyMain();
else await main();
