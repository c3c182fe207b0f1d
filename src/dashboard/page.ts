/**
 * The dashboard page's HTML shell and style sheet. The shell works without its script as nats-server's
 * endpoint index (the links stay); the script (client/, bundled into client_bundle.ts) fills the panels.
 * Colours come from CSS variables: the system's light or dark preference, or the viewer's choice.
 */

const TABS: Array<[string, string]> = [
  ["overview", "Overview"],
  ["connections", "Connections"],
  ["subscriptions", "Subscriptions"],
  ["jetstream", "JetStream"],
  ["browser", "Messages"],
];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

export function pageHtml(serverName: string, endpoints: readonly string[]): string {
  const name = escapeHtml(serverName);
  const tabs = TABS.map(([id, label], i) =>
    `<button type="button" role="tab" id="tab-${id}" aria-controls="panel-${id}" aria-selected="${i === 0}" tabindex="${
      i === 0 ? 0 : -1
    }">${label}</button>`
  ).join("");
  const panels = TABS.map(([id, label], i) =>
    `<section id="panel-${id}" role="tabpanel" aria-labelledby="tab-${id}"${i === 0 ? "" : " hidden"}><h2 class="sr-only">${label}</h2></section>`
  ).join("");
  const links = endpoints.map((e) => `<li><a href="/${escapeHtml(e)}">/${escapeHtml(e)}</a></li>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="dark light">
<title>Petrel ${name}</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%234fb3ff'/%3E%3C/svg%3E">
<link rel="stylesheet" href="/dashboard/app.css">
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<h1><span class="brand">Petrel</span> <span id="server-name">${name}</span></h1>
<p id="live" class="live" aria-hidden="true">connecting…</p>
<p id="live-sr" class="sr-only" role="status" aria-live="polite">connecting</p>
<button type="button" id="theme" class="theme" aria-label="Colour theme: system">Theme: system</button>
</header>
<nav role="tablist" aria-label="Dashboard sections" class="tabs">${tabs}</nav>
<main id="main" tabindex="-1">${panels}</main>
<footer class="endpoints">
<h2>Monitoring endpoints</h2>
<ul>${links}</ul>
</footer>
</body>
</html>`;
}

export const PAGE_CSS = `
:root {
  --bg: #0f1419; --panel: #171d24; --panel2: #1e2630; --fg: #e6e9ee; --muted: #9aa5b1; --line: #2c3643;
  --accent: #4fb3ff; --accent2: #f5a524; --good: #3ecf8e; --bad: #ff6b6b; --focus: #ffd166;
  color-scheme: dark;
}
@media (prefers-color-scheme: light) {
  :root:not([data-theme="dark"]) {
    --bg: #f6f7f9; --panel: #ffffff; --panel2: #eef1f5; --fg: #17202a; --muted: #56616e; --line: #d5dbe3;
    --accent: #0b6bcb; --accent2: #b35c00; --good: #137a4b; --bad: #c62828; --focus: #7a4cff;
    color-scheme: light;
  }
}
:root[data-theme="light"] {
  --bg: #f6f7f9; --panel: #ffffff; --panel2: #eef1f5; --fg: #17202a; --muted: #56616e; --line: #d5dbe3;
  --accent: #0b6bcb; --accent2: #b35c00; --good: #137a4b; --bad: #c62828; --focus: #7a4cff;
  color-scheme: light;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
a { color: var(--accent); }
:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: var(--panel); padding: 4px 8px; z-index: 2; }
.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; padding: 10px 16px; background: var(--panel); border-bottom: 1px solid var(--line); }
.top h1 { font-size: 18px; margin: 0; flex: 1 1 auto; overflow-wrap: anywhere; }
.brand { color: var(--accent); }
.live { margin: 0; color: var(--muted); font-size: 13px; }
.live.ok::before { content: "● "; color: var(--good); } .live.down::before { content: "● "; color: var(--bad); }
button, input, select { font: inherit; color: inherit; background: var(--panel2); border: 1px solid var(--line); border-radius: 6px; padding: 5px 9px; }
button { cursor: pointer; } button:disabled { opacity: .5; cursor: default; }
.tabs { display: flex; gap: 2px; padding: 0 12px; background: var(--panel); border-bottom: 1px solid var(--line); overflow-x: auto; }
.tabs [role="tab"] { border: 0; border-bottom: 3px solid transparent; border-radius: 0; background: none; padding: 10px 12px; color: var(--muted); white-space: nowrap; }
.tabs [role="tab"][aria-selected="true"] { color: var(--fg); border-bottom-color: var(--accent); }
main { padding: 14px 16px; max-width: 1400px; margin: 0 auto; }
main:focus { outline: none; }
h2 { font-size: 15px; margin: 18px 0 8px; } h3 { font-size: 14px; margin: 12px 0 6px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .k { color: var(--muted); font-size: 12px; } .card .v { font-size: 20px; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 10px; }
figure { margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
figcaption { display: flex; justify-content: space-between; gap: 8px; flex-wrap: wrap; font-size: 13px; }
figcaption .now { color: var(--muted); font-variant-numeric: tabular-nums; }
.chart { width: 100%; height: 90px; display: block; }
.chart .a { stroke: var(--accent); } .chart .b { stroke: var(--accent2); } .chart .grid { stroke: var(--line); }
.chart polyline { fill: none; stroke-width: 1.6; vector-effect: non-scaling-stroke; }
.swatch-a { color: var(--accent); } .swatch-b { color: var(--accent2); }
.scale { color: var(--muted); font-size: 11px; }
.topo { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px; }
.topo svg { width: 100%; max-height: 320px; display: block; }
.topo .edge { stroke: var(--muted); stroke-width: 1.5; } .topo .edge.up { stroke: var(--good); } .topo .edge.down { stroke: var(--bad); stroke-dasharray: 5 4; }
.topo circle { stroke: var(--line); stroke-width: 2; fill: var(--panel2); }
.topo .self circle { fill: var(--accent); } .topo .gateway circle { fill: var(--accent2); } .topo .leaf circle { fill: var(--panel2); stroke: var(--accent); }
.topo .down circle { stroke: var(--bad); }
.topo text { fill: var(--fg); font-size: 12px; text-anchor: middle; }
.toolbar { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin: 8px 0; }
.toolbar label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
.tablewrap { overflow-x: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 12em; }
th { position: sticky; top: 0; background: var(--panel2); font-weight: 600; }
th button { border: 0; background: none; padding: 0; font-weight: 600; }
th[aria-sort="ascending"] button::after { content: " ▲"; } th[aria-sort="descending"] button::after { content: " ▼"; }
td.num, th.num { text-align: right; }
tr.sub td { background: var(--panel2); white-space: normal; }
.pager { display: flex; gap: 8px; align-items: center; margin: 8px 0; color: var(--muted); flex-wrap: wrap; }
.pill { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; border: 1px solid var(--line); margin: 1px 0; white-space: nowrap; }
.pill.up, .pill.current { color: var(--good); border-color: var(--good); } .pill.down, .pill.behind { color: var(--bad); border-color: var(--bad); }
.muted { color: var(--muted); }
.notice { background: var(--panel2); border-left: 3px solid var(--accent2); padding: 8px 12px; border-radius: 4px; }
.msgs { display: grid; gap: 8px; }
.msg { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
.msg pre { margin: 6px 0 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; max-height: 240px; overflow: auto; }
.msg .meta { color: var(--muted); font-size: 12px; display: flex; gap: 12px; flex-wrap: wrap; }
.keys { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 6px; }
.browse { display: grid; grid-template-columns: 1fr; gap: 12px; } .browse.kv { grid-template-columns: minmax(200px, 1fr) 2fr; }
.endpoints { padding: 8px 16px 24px; max-width: 1400px; margin: 0 auto; color: var(--muted); }
.endpoints ul { display: flex; flex-wrap: wrap; gap: 6px 14px; list-style: none; padding: 0; margin: 0; }
@media (max-width: 700px) {
  main { padding: 10px; }
  .browse.kv { grid-template-columns: 1fr; }
  .cards { grid-template-columns: repeat(2, 1fr); }
  .charts { grid-template-columns: 1fr; }
  th, td { padding: 5px 7px; }
  .topo text { font-size: 22px; }
  th.wide, td.wide { display: none; }
}
`;
