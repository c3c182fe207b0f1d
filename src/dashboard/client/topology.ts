/**
 * The topology graph: this server in the middle, route peers, gateways (remote clusters) and leafnode links
 * around it, edges coloured by link state; and the same facts as a table, for reading and screen readers.
 */
import type { Topology, TopologyNode } from "../types.ts";
import { compact, h, s } from "./dom.ts";

const W = 640;
const MAX_DRAWN = 24;

const KIND_LABEL: Record<TopologyNode["kind"], string> = {
  self: "this server",
  route: "route",
  gateway: "gateway",
  leaf: "leafnode",
};

function short(name: string): string {
  return name.length > 18 ? `${name.slice(0, 8)}…${name.slice(-8)}` : name;
}

export function topologyView(t: Topology): HTMLElement {
  const self = t.nodes[0];
  const others = t.nodes.slice(1);
  const drawn = others.slice(0, MAX_DRAWN);
  // Two peers or fewer sit on a line: a short picture, not a tall empty one.
  const H = drawn.length <= 2 ? 150 : 300;
  const cx = W / 2;
  const cy = H / 2;
  const items: SVGElement[] = [];
  const nodes: SVGElement[] = [];
  drawn.forEach((n, i) => {
    const a = Math.PI + (2 * Math.PI * i) / Math.max(drawn.length, 1); // the first peer to the left, then round
    const rx = n.kind === "leaf" ? W * 0.42 : W * 0.32;
    const ry = n.kind === "leaf" ? H * 0.4 : H * 0.34;
    const x = cx + rx * Math.cos(a);
    const y = cy + ry * Math.sin(a);
    items.push(s("line", { class: `edge ${n.state}`, x1: cx, y1: cy, x2: x.toFixed(1), y2: y.toFixed(1) }));
    nodes.push(s("g", { class: `${n.kind} ${n.state}` },
      s("title", {}, `${KIND_LABEL[n.kind]} ${n.name} (${n.state})`),
      s("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: n.kind === "gateway" ? 14 : 10 }),
      s("text", { x: x.toFixed(1), y: (y + (y < cy ? -16 : 26)).toFixed(1) }, short(n.name))));
  });
  const label = `Topology: ${self?.name ?? "this server"}` +
    (t.cluster ? ` in cluster ${t.cluster}` : "") +
    `, ${others.filter((n) => n.kind === "route").length} routes, ${others.filter((n) => n.kind === "gateway").length} gateways, ` +
    `${others.filter((n) => n.kind === "leaf").length} leafnodes`;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label },
    ...items, ...nodes,
    s("g", { class: "self up" },
      s("title", {}, `this server ${self?.name ?? ""}`),
      s("circle", { cx, cy, r: 16 }),
      s("text", { x: cx, y: cy + 32 }, short(self?.name ?? ""))));
  const rows = t.nodes.map((n) =>
    h("tr", { "data-kind": n.kind },
      h("td", {}, KIND_LABEL[n.kind]),
      h("td", { class: "wrap" }, n.name),
      h("td", {}, h("span", { class: `pill ${n.state}` }, n.state)),
      h("td", {}, n.direction ?? "", n.servers ? ` · ${n.servers.length} server${n.servers.length === 1 ? "" : "s"}` : ""),
      h("td", {}, n.address ?? ""),
      h("td", {}, n.account ?? ""),
      h("td", {}, n.rtt ?? ""),
      h("td", { class: "num" }, n.in_msgs === undefined ? "" : compact(n.in_msgs)),
      h("td", { class: "num" }, n.out_msgs === undefined ? "" : compact(n.out_msgs)))
  );
  const more = others.length > MAX_DRAWN ? h("p", { class: "muted" }, `${others.length - MAX_DRAWN} more links in the table below`) : undefined;
  return h("div", { class: "topo", id: "topology" },
    h("p", { class: "muted" },
      t.cluster ? `cluster ${t.cluster}` : "no cluster",
      t.gateway ? ` · supercluster gateway ${t.gateway}` : ""),
    svg,
    more ?? "",
    h("div", { class: "tablewrap" },
      h("table", { id: "topology-table" },
        h("caption", { class: "sr-only" }, "Servers and links"),
        h("thead", {}, h("tr", {}, ...["Kind", "Name", "State", "Direction", "Address", "Account", "RTT", "Msgs in", "Msgs out"].map((c, i) =>
          h("th", { scope: "col", class: i >= 7 ? "num" : undefined }, c)))),
        h("tbody", {}, ...rows))));
}
