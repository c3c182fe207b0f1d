#!/usr/bin/env node
// Start one server command N times: median time to the first accepted TCP connection, the CPU time the process
// tree had used by then (utime+stime, 10 ms ticks: robust on a loaded machine), and RSS 1 s later.
// Usage: [INFO=1] node bench/startup_one.mjs <rounds> <port> -- <command...>   (PORT in the command is replaced by <port>)
// e.g. node bench/startup_one.mjs 7 14631 -- node_modules/.bin/bun run mod.ts -a 127.0.0.1 -p PORT -js -sd /tmp/sd
import { spawn } from "node:child_process"; import { connect } from "node:net"; import { readFileSync } from "node:fs";
const rounds = Number(process.argv[2]); const port = Number(process.argv[3]); const cmd = process.argv.slice(5).map(a=>a.replace("PORT",String(port)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// INFO=1: wait for the server's INFO line, not only the TCP accept (a server that holds clients until its
// extensions have started accepts and then closes the connection without INFO; nats-server binds its client port last).
const wantInfo = process.env.INFO === "1";
const tc = () => new Promise((res) => {
  const s = connect(port, "127.0.0.1");
  if (!wantInfo) { s.once("connect", () => { s.destroy(); res(true); }); s.once("error", () => res(false)); return; }
  let got = "";
  s.on("data", (d) => { got += d.toString("latin1"); if (got.startsWith("INFO ")) { s.destroy(); res(true); } });
  s.once("error", () => res(false)); s.once("close", () => res(false));
});
const tree = (pid) => { const kids=(p)=>{try{return readFileSync(`/proc/${p}/task/${p}/children`,"utf8").trim().split(/\s+/).filter(Boolean).map(Number).flatMap(k=>[k,...kids(k)])}catch{return[]}}; return [pid, ...kids(pid)]; };
const rss = (pid) => { let t=0; for (const p of tree(pid)) { try { const m = readFileSync(`/proc/${p}/status`,"utf8").match(/VmRSS:\s+(\d+) kB/); if (m) t+=Number(m[1])*1024; } catch {} } return t; };
const cpuMs = (pid) => { let t=0; for (const p of tree(pid)) { try { const f = readFileSync(`/proc/${p}/stat`,"utf8").split(") ")[1].split(" "); t += (Number(f[11]) + Number(f[12])) * 10; } catch {} } return t; };
const T=[],R=[],C=[];
for (let r=0;r<rounds;r++){ const t0=performance.now(); const p=spawn(cmd[0],cmd.slice(1),{stdio:"ignore"}); while(!(await tc())) await sleep(2); T.push(performance.now()-t0); C.push(cpuMs(p.pid)); await sleep(1000); R.push(rss(p.pid)); p.kill("SIGTERM"); await new Promise(r=>p.once("exit",r)); }
T.sort((a,b)=>a-b); R.sort((a,b)=>a-b); C.sort((a,b)=>a-b); const med=a=>a[Math.floor(a.length/2)];
console.log(`start ${med(T).toFixed(0)} ms [${T.map(x=>x.toFixed(0)).join(",")}]  cpu ${med(C)} ms [${C.join(",")}]  rss ${(med(R)/1e6).toFixed(1)} MB`);
