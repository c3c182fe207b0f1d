/**
 * Small hand-written SVG line charts for the rate history: one or two series, scaled to their maximum,
 * with the current values in the caption and an aria-label that says them for screen readers.
 */
import { h, s } from "./dom.ts";

const W = 300;
const H = 90;

export interface Series {
  label: string;
  cls: "a" | "b";
  values: number[];
}

export interface Chart {
  root: HTMLElement;
  update(series: Series[], fmt: (n: number) => string): void;
}

export function lineChart(id: string, title: string): Chart {
  const now = h("span", { class: "now", id: `${id}-now` });
  const scale = h("span", { class: "scale", id: `${id}-scale` });
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": title });
  const root = h("figure", { id }, h("figcaption", {}, h("span", {}, title, " ", scale), now), svg);
  return {
    root,
    update(series, fmt) {
      const top = Math.max(0, ...series.flatMap((x) => x.values));
      const max = Math.max(1e-9, top * 1.15); // headroom, so a flat line at the maximum is not drawn on the edge
      const n = Math.max(2, ...series.map((x) => x.values.length));
      const grid = [0.25, 0.5, 0.75].map((f) => s("line", { class: "grid", x1: 0, x2: W, y1: H * f, y2: H * f }));
      const lines = series.map((x) => {
        const off = n - x.values.length;
        const pts = x.values.map((v, i) => `${(((i + off) / (n - 1)) * W).toFixed(1)},${(H - 2 - (v / max) * (H - 6)).toFixed(1)}`);
        return s("polyline", { class: x.cls, points: pts.join(" ") });
      });
      svg.replaceChildren(...grid, ...lines);
      const current = series.map((x) => `${x.label} ${fmt(x.values.at(-1) ?? 0)}`);
      now.replaceChildren(...series.flatMap((x, i) => [
        i > 0 ? " · " : "",
        h("span", { class: `swatch-${x.cls}` }, "■ "),
        `${x.label} ${fmt(x.values.at(-1) ?? 0)}`,
      ]));
      scale.textContent = `(max ${fmt(top)})`;
      svg.setAttribute("aria-label", `${title}: ${current.join(", ")}`);
    },
  };
}
