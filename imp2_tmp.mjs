import fs from "node:fs";
const rss = () => (Number(fs.readFileSync("/proc/self/status","utf8").match(/VmRSS:\s+(\d+)/)[1])/1024).toFixed(1);
const r0 = rss(); const t0 = performance.now();
for (const m of process.argv.slice(2)) await import(m);
console.log(process.argv.slice(2).join(" ").slice(0,80), (performance.now()-t0).toFixed(1)+"ms", r0, "->", rss()+"MB");
