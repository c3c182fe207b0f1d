/**
 * The dashboard page's script: one EventSource to /dashboard/events carrying what the open tab shows
 * (reopened with new parameters when the viewer changes tab, account, search, sort or page), the panels it
 * renders, keyboard-operable tabs, and the colour theme switch. Bundled into ../client_bundle.ts.
 */
import type { ConnRow, Hello, RatePoint, ReplicaInfo, StreamRow, SubRow, Tick } from "../types.ts";
import { browserPanel } from "./browser.ts";
import { lineChart } from "./charts.ts";
import { byId, bytes, compact, fill, h, int } from "./dom.ts";
import { dataTable, type TabView } from "./table.ts";
import { topologyView } from "./topology.ts";

const TABS = ["overview", "connections", "subscriptions", "jetstream", "browser"] as const;
type Tab = typeof TABS[number];
const HISTORY = 300;

const views: Record<Tab, TabView> = {
  overview: { acc: "", q: "", sort: "", dir: "desc", offset: 0, limit: 50 },
  connections: { acc: "", q: "", sort: "cid", dir: "asc", offset: 0, limit: 50 },
  subscriptions: { acc: "", q: "", sort: "subject", dir: "asc", offset: 0, limit: 50 },
  jetstream: { acc: "", q: "", sort: "name", dir: "asc", offset: 0, limit: 50 },
  browser: { acc: "", q: "", sort: "", dir: "asc", offset: 0, limit: 50 },
};
let tab: Tab = "overview";
let history: RatePoint[] = [];
let browse = false;
let last: Tick | undefined;
let source: EventSource | undefined;

// ---- theme ----
const THEMES = ["system", "dark", "light"] as const;
function applyTheme(t: string): void {
  const root = document.documentElement;
  if (t === "dark" || t === "light") root.dataset.theme = t;
  else delete root.dataset.theme;
  const b = byId<HTMLButtonElement>("theme");
  b.textContent = `Theme: ${t}`;
  b.setAttribute("aria-label", `Colour theme: ${t}. Press to change.`);
}
function storedTheme(): string {
  try {
    return localStorage.getItem("petrel-theme") ?? "system";
  } catch {
    return "system";
  }
}

// ---- panels ----
const panel = (t: Tab) => byId(`panel-${t}`);

const cards = h("div", { class: "cards", id: "cards" });
const charts = {
  msgs: lineChart("chart-msgs", "Messages per second"),
  bytes: lineChart("chart-bytes", "Bytes per second"),
  conns: lineChart("chart-conns", "Connections"),
  slow: lineChart("chart-slow", "Slow consumers"),
};
const topoBox = h("div", { id: "topology-box" });

function card(k: string, v: string, id: string): HTMLElement {
  return h("div", { class: "card", id }, h("div", { class: "k" }, k), h("div", { class: "v" }, v));
}

function renderOverview(t: Tick): void {
  const s = t.server;
  const list = [
    card("Connections", int(s.connections), "card-connections"),
    card("Subscriptions", int(s.subscriptions), "card-subscriptions"),
    card("Messages in", compact(s.in_msgs), "card-in-msgs"),
    card("Messages out", compact(s.out_msgs), "card-out-msgs"),
    card("Bytes in", bytes(s.in_bytes), "card-in-bytes"),
    card("Bytes out", bytes(s.out_bytes), "card-out-bytes"),
    card("Slow consumers", int(s.slow_consumers), "card-slow"),
    card("Uptime", s.uptime, "card-uptime"),
  ];
  if (t.js.enabled) {
    list.push(card("Streams", int(t.js.streams), "card-streams"), card("Stored", bytes(t.js.bytes), "card-stored"));
  }
  fill(cards, ...list);
  const col = (k: keyof RatePoint) => history.map((p) => p[k]);
  const rate = (n: number) => `${compact(n)}/s`;
  charts.msgs.update([{ label: "in", cls: "a", values: col("in_msgs") }, { label: "out", cls: "b", values: col("out_msgs") }], rate);
  charts.bytes.update([{ label: "in", cls: "a", values: col("in_bytes") }, { label: "out", cls: "b", values: col("out_bytes") }], (n) => `${bytes(n)}/s`);
  charts.conns.update([{ label: "open", cls: "a", values: col("connections") }], (n) => int(n));
  charts.slow.update([{ label: "total", cls: "b", values: col("slow_consumers") }], (n) => int(n));
  fill(topoBox, topologyView(t.topology));
}

function change(t: Tab) {
  return (v: Partial<TabView>) => {
    views[t] = { ...views[t], ...v };
    connect();
  };
}

const connTable = dataTable<ConnRow>({
  id: "connections-table",
  caption: "Client connections",
  searchLabel: "Search connections",
  view: () => views.connections,
  change: change("connections"),
  rowKey: (r) => String(r.cid),
  columns: [
    { key: "cid", label: "CID", num: true, cell: (r) => String(r.cid) },
    { key: "name", label: "Name", wrap: true, cell: (r) => r.name },
    { key: "account", label: "Account", cell: (r) => r.account },
    { key: "user", wide: true, label: "User", cell: (r) => r.user },
    { key: "ip", label: "Address", cell: (r) => `${r.ip}:${r.port}` },
    { key: "lang", wide: true, label: "Client", cell: (r) => [r.lang, r.version].filter((x) => x !== "").join(" ") },
    { key: "subscriptions", label: "Subs", num: true, cell: (r) => int(r.subscriptions) },
    { key: "in_msgs", label: "Msgs in", num: true, cell: (r) => compact(r.in_msgs) },
    { key: "out_msgs", label: "Msgs out", num: true, cell: (r) => compact(r.out_msgs) },
    { key: "in_bytes", wide: true, label: "Bytes in", num: true, cell: (r) => bytes(r.in_bytes) },
    { key: "out_bytes", wide: true, label: "Bytes out", num: true, cell: (r) => bytes(r.out_bytes) },
    { key: "pending_bytes", wide: true, label: "Pending", num: true, cell: (r) => bytes(r.pending_bytes) },
    { key: "uptime", label: "Uptime", cell: (r) => r.uptime },
    { key: "idle", wide: true, label: "Idle", cell: (r) => r.idle },
    { key: "rtt", wide: true, label: "RTT", cell: (r) => r.rtt },
  ],
  expand: (r) =>
    r.subjects.length === 0
      ? h("span", { class: "muted" }, "no subscriptions")
      : h("div", {}, h("strong", {}, "Subscriptions: "), r.subjects.slice(0, 200).join(", "), r.subjects.length > 200 ? ` … ${r.subjects.length - 200} more` : ""),
});

const subTable = dataTable<SubRow>({
  id: "subscriptions-table",
  caption: "Subscriptions",
  searchLabel: "Search subjects",
  view: () => views.subscriptions,
  change: change("subscriptions"),
  rowKey: (r) => `${r.cid}/${r.sid}`,
  columns: [
    { key: "subject", label: "Subject", wrap: true, cell: (r) => r.subject },
    { key: "qgroup", label: "Queue", cell: (r) => r.qgroup },
    { key: "account", label: "Account", cell: (r) => r.account },
    { key: "cid", label: "CID", num: true, cell: (r) => String(r.cid) },
    { key: "sid", label: "SID", cell: (r) => r.sid },
    { key: "msgs", label: "Msgs", num: true, cell: (r) => compact(r.msgs) },
  ],
});

/** A replica or meta group peer: name, current or lagging (by how much), and when it was last seen. */
function peerText(p: ReplicaInfo): string {
  const state = p.offline ? "offline" : p.current === false ? `lag ${p.lag ?? "?"}` : "current";
  return `${p.name} ${state}${p.active ? `, seen ${p.active} ago` : ""}`;
}

function replicas(r: StreamRow): Node {
  const c = r.cluster;
  if (c?.replicas === undefined || c.replicas.length === 0) return document.createTextNode("");
  return h("span", {}, ...c.replicas.map((p) =>
    h("span", { class: `pill ${p.current === false || p.offline ? "behind" : "current"}` }, peerText(p)), " "
  ));
}

const streamTable = dataTable<StreamRow>({
  id: "streams-table",
  caption: "Streams",
  searchLabel: "Search streams",
  view: () => views.jetstream,
  change: change("jetstream"),
  rowKey: (r) => `${r.account}/${r.name}`,
  columns: [
    { key: "name", label: "Stream", wrap: true, cell: (r) => (r.kv !== undefined ? `${r.name} (KV ${r.kv})` : r.name) },
    { key: "account", wide: true, label: "Account", cell: (r) => r.account },
    { key: "storage", wide: true, label: "Storage", cell: (r) => r.storage },
    { key: "replicas", label: "R", num: true, cell: (r) => String(r.replicas) },
    { key: "messages", label: "Messages", num: true, cell: (r) => int(r.messages) },
    { key: "bytes", wide: true, label: "Bytes", num: true, cell: (r) => bytes(r.bytes) },
    { key: "first_seq", wide: true, label: "First seq", num: true, cell: (r) => int(r.first_seq) },
    { key: "last_seq", wide: true, label: "Last seq", num: true, cell: (r) => int(r.last_seq) },
    { key: "consumer_count", label: "Consumers", num: true, cell: (r) => int(r.consumer_count) },
    { key: "leader", label: "Leader", sortable: false, cell: (r) => r.cluster?.leader ?? "" },
    { key: "peers", label: "Replicas", sortable: false, wrap: true, cell: replicas },
  ],
  expand: (r) => {
    const subj = h("p", {}, h("strong", {}, "Subjects: "), r.subjects.join(", ") || "(none)");
    if (r.consumers.length === 0) return h("div", {}, subj, h("p", { class: "muted" }, "no consumers"));
    return h("div", {}, subj,
      h("table", { "aria-label": `Consumers of ${r.name}` },
        h("thead", {}, h("tr", {}, ...["Consumer", "Pending", "Ack pending", "Redelivered", "Waiting", "Delivered seq", "Ack floor", "Leader"].map((c, i) =>
          h("th", { scope: "col", class: i > 0 && i < 7 ? "num" : undefined }, c)))),
        h("tbody", {}, ...r.consumers.map((c) =>
          h("tr", {},
            h("td", {}, c.name),
            h("td", { class: "num" }, int(c.num_pending)),
            h("td", { class: "num" }, int(c.num_ack_pending)),
            h("td", { class: "num" }, int(c.num_redelivered)),
            h("td", { class: "num" }, int(c.num_waiting)),
            h("td", { class: "num" }, int(c.delivered_seq)),
            h("td", { class: "num" }, int(c.ack_floor_seq)),
            h("td", {}, c.cluster?.leader ?? ""))))));
  },
});

const jsSummary = h("div", { id: "js-summary" });
function renderJetStream(t: Tick): void {
  const js = t.js;
  if (!js.enabled) {
    fill(jsSummary, h("p", { class: "notice" }, "JetStream is not enabled on this server."));
  } else {
    const meta = js.meta;
    fill(jsSummary,
      h("div", { class: "cards" },
        card("Streams", int(js.streams), "js-streams"),
        card("Consumers", int(js.consumers), "js-consumers"),
        card("Messages", int(js.messages), "js-messages"),
        card("Stored", bytes(js.bytes), "js-bytes"),
        card("API requests", `${int(js.api_total)} (${int(js.api_errors)} errors)`, "js-api")),
      meta === undefined ? "" : h("section", { id: "js-meta", "aria-labelledby": "js-meta-h" },
        h("h3", { id: "js-meta-h" }, `Meta group${meta.name ? ` of cluster ${meta.name}` : ""}`),
        h("p", {}, "Leader: ", h("strong", { id: "js-meta-leader" }, meta.leader || "none"),
          meta.cluster_size !== undefined ? ` · ${meta.cluster_size} servers` : ""),
        h("ul", { class: "keys", "aria-label": "Meta group members" }, ...(meta.replicas ?? []).map((p) =>
          h("li", { class: `pill ${p.current === false || p.offline ? "behind" : "current"}` }, peerText(p))))));
  }
  streamTable.update(t.streams, t.accounts);
}

const browser = browserPanel();

function build(): void {
  panel("overview").append(h("h2", {}, "At a glance"), cards, h("h2", {}, "Rates"),
    h("div", { class: "charts" }, charts.msgs.root, charts.bytes.root, charts.conns.root, charts.slow.root),
    h("h2", {}, "Topology"), topoBox);
  panel("connections").append(connTable.root);
  panel("subscriptions").append(subTable.root);
  panel("jetstream").append(jsSummary, h("h2", {}, "Streams"), streamTable.root);
  panel("browser").append(browser.root);
}

function render(t: Tick): void {
  byId("server-name").textContent = t.server.name;
  const peers = t.topology.nodes.filter((n) => n.kind === "route").length;
  const where = `${peers + 1} server${peers === 0 ? "" : "s"}${t.topology.cluster ? ` in ${t.topology.cluster}` : ""}`;
  const problem = t.errors ? ` · not shown: ${t.errors.join("; ")}` : "";
  status(t.errors ? "down" : "ok", `live · ${where} · ${new Date(t.t).toLocaleTimeString("en-GB")}${problem}`, `live, ${where}${problem}`);
  switch (tab) {
    case "overview":
      renderOverview(t);
      break;
    case "connections":
      connTable.update(t.connections, t.accounts);
      break;
    case "subscriptions":
      subTable.update(t.subscriptions, t.accounts);
      break;
    case "jetstream":
      renderJetStream(t);
      break;
    case "browser":
      browser.update(t.stream_names ?? [], browse);
      break;
  }
}

/**
 * The visible status line changes every tick; screen readers hear only changes of state (the sr-only live
 * region), not a clock ticking once a second.
 */
function status(state: "ok" | "down", shown: string, spoken: string): void {
  const live = byId("live");
  live.className = `live ${state}`;
  live.textContent = shown;
  const sr = byId("live-sr");
  if (sr.textContent !== spoken) sr.textContent = spoken;
}

// ---- the live stream ----
function connect(): void {
  source?.close();
  const v = views[tab];
  const q = new URLSearchParams({ tab, acc: v.acc, q: v.q, sort: v.sort, dir: v.dir, offset: String(v.offset), limit: String(v.limit) });
  const es = new EventSource(`/dashboard/events?${q}`);
  source = es;
  es.addEventListener("hello", (e) => {
    const hello = JSON.parse((e as MessageEvent<string>).data) as Hello;
    history = hello.history.slice(-HISTORY);
    browse = hello.browse;
  });
  es.addEventListener("tick", (e) => {
    const t = JSON.parse((e as MessageEvent<string>).data) as Tick;
    if (t.rate !== undefined && (history.length === 0 || t.rate.t > (history.at(-1)?.t ?? 0))) {
      history.push(t.rate);
      if (history.length > HISTORY) history.splice(0, history.length - HISTORY);
    }
    last = t;
    render(t);
  });
  es.addEventListener("failure", (e) => {
    const msg = `error: ${(JSON.parse((e as MessageEvent<string>).data) as { error: string }).error}`;
    status("down", msg, msg);
  });
  es.onerror = () => {
    if (source !== es) return;
    const msg = es.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…";
    status("down", msg, msg);
  };
}

function selectTab(t: Tab, focus: boolean): void {
  tab = t;
  for (const x of TABS) {
    const b = byId(`tab-${x}`);
    const on = x === t;
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
    panel(x).hidden = !on;
    if (on && focus) b.focus();
  }
  if (location.hash !== `#${t}`) history_replace(t);
  if (last !== undefined) render({ ...last, connections: undefined, subscriptions: undefined, streams: undefined });
  connect();
}

function history_replace(t: Tab): void {
  try {
    window.history.replaceState(null, "", `#${t}`);
  } catch { /* file: or sandboxed */ }
}

function start(): void {
  build();
  let theme = storedTheme();
  applyTheme(theme);
  byId("theme").addEventListener("click", () => {
    theme = THEMES[(THEMES.indexOf(theme as typeof THEMES[number]) + 1) % THEMES.length];
    try {
      localStorage.setItem("petrel-theme", theme);
    } catch { /* private mode */ }
    applyTheme(theme);
  });
  TABS.forEach((t, i) => {
    const b = byId(`tab-${t}`);
    b.addEventListener("click", () => selectTab(t, false));
    b.addEventListener("keydown", (e) => {
      const k = (e as KeyboardEvent).key;
      const j = k === "ArrowRight" ? (i + 1) % TABS.length : k === "ArrowLeft" ? (i + TABS.length - 1) % TABS.length : k === "Home" ? 0 : k === "End" ? TABS.length - 1 : -1;
      if (j >= 0) {
        e.preventDefault();
        selectTab(TABS[j], true);
      }
    });
  });
  const fromHash = location.hash.slice(1) as Tab;
  selectTab(TABS.includes(fromHash) ? fromHash : "overview", false);
}

start();
