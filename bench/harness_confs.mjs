// What bench/first_use.mjs and bench/per_msg_counts.mjs share: the bench harness's server configs for js-r1-sync (one
// JetStream server) and cluster-reqrep (three routed nodes), as ../shared/bench/run.mjs writes them (single_js /
// cluster3), natsbench's arguments for the two scenarios and a run of it read up to its MARK and RESULT lines, a probe
// for a listening port, and the tools' command line.
import { spawn } from "node:child_process";
import { connect } from "node:net";
import fs from "node:fs";
import path from "node:path";

/** Writes one config per node into `dir`. Ports: base+i (client), base+10+i (cluster), base+20+i (http). */
export function writeConfs(dir, mode, base) {
  const nodes = mode === "js" ? 1 : 3;
  const out = [];
  for (let i = 0; i < nodes; i++) {
    const lines = [`server_name: "b-n${i + 1}"`, `port: ${base + i}`, `host: "127.0.0.1"`, `http: "127.0.0.1:${base + 20 + i}"`];
    if (nodes > 1) {
      const routes = [];
      for (let j = 0; j < nodes; j++) if (j !== i) routes.push(`    "nats-route://127.0.0.1:${base + 10 + j}"`);
      lines.push("cluster {", '  name: "bench"', `  listen: "127.0.0.1:${base + 10 + i}"`, "  routes: [", ...routes, "  ]", "}");
    } else {
      lines.push("jetstream {", `  store_dir: "${path.join(dir, "js")}"`, "}");
    }
    const conf = path.join(dir, `n${i + 1}.conf`);
    fs.writeFileSync(conf, lines.join("\n") + "\n");
    out.push({ conf, port: base + i });
  }
  return out;
}

/** natsbench's arguments: 128 B sync publishes to an R1 file stream, or 16 B requests from node 1 to a responder on node 3. */
export function natsbenchArgs(mode, n, base) {
  return mode === "js"
    ? ["js", "-s", "128", "--replicas", "1", "-n", String(n), "--url", `nats://127.0.0.1:${base}`, "--stream", "BENCH_B_1", "--subj", "benchjs.B.1"]
    : ["req", "-s", "16", "-n", String(n), "--url", `nats://127.0.0.1:${base}`, "--sub-url", `nats://127.0.0.1:${base + 2}`];
}

export const listening = (port) =>
  new Promise((res) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), res(true)));
    s.once("error", () => res(false));
  });

/**
 * The two tools' command line: `js|rr [options] -- <server cmd...>`. Exits with `usage` when it is not that shape.
 * `opt(name, default)` reads a numeric option, `has(name)` a switch; `cmd` is the server command.
 */
export function parseCli(args, usage) {
  const dd = args.indexOf("--");
  if (dd < 0 || !["js", "rr"].includes(args[0])) {
    console.error(usage);
    process.exit(2);
  }
  const flags = args.slice(1, dd);
  const opt = (name, dflt) => {
    const i = flags.indexOf(name);
    return i >= 0 ? Number(flags[i + 1]) : dflt;
  };
  return { mode: args[0], opt, has: (name) => flags.includes(name), cmd: args.slice(dd + 1) };
}

/**
 * Runs natsbench (`bin` with `args`, `env`); `onMark("start" | "end", pid)` at its MARK lines (the measured window's
 * edges, called as they are read); resolves with its RESULT line's object.
 */
export function runNatsbench(bin, args, env, onMark) {
  return new Promise((res, rej) => {
    const c = spawn(bin, args, { env, stdio: ["ignore", "pipe", "ignore"] });
    let buf = "", result;
    c.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith("MARK start")) onMark?.("start", c.pid);
        else if (line.startsWith("MARK end")) onMark?.("end", c.pid);
        else if (line.startsWith("RESULT ")) result = JSON.parse(line.slice(7));
      }
    });
    c.once("exit", (code) => (result ? res(result) : rej(new Error(`natsbench exited ${code} without a result`))));
  });
}
