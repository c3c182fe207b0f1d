import fs from "node:fs";
const m = process.argv[2];
const rss = () => (Number(fs.readFileSync("/proc/self/status","utf8").match(/VmRSS:\s+(\d+)/)[1])/1024).toFixed(1);
const r0 = rss();
const t0=performance.now();
if (m) await import(m);
const t1=performance.now();
console.log(m, (t1-t0).toFixed(1)+"ms", r0, "->", rss()+"MB");
