/**
 * The page script's small DOM kit: element builders that only ever set text (names, subjects and payloads
 * come from clients, so nothing is parsed as HTML), and number formatting for people.
 */

type Attrs = Record<string, string | number | boolean | undefined>;
type Child = Node | string | number | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG = "http://www.w3.org/2000/svg";

export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === undefined || c === false) continue;
    el.append(typeof c === "number" ? String(c) : c);
  }
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`dashboard: element #${id} is missing`);
  return el as T;
}

const UNITS = ["", "K", "M", "G", "T", "P"];

/** 1234567 -> "1.23M"; small numbers as they are. */
export function compact(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return "–";
  const a = Math.abs(n);
  if (a < 1000) return a >= 100 || Number.isInteger(n) ? String(Math.round(n)) : n.toPrecision(Math.min(digits, 3));
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toPrecision(digits)}${UNITS[i]}`;
}

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function bytes(n: number): string {
  if (!Number.isFinite(n)) return "–";
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${BYTE_UNITS[i]}`;
}

export function int(n: number): string {
  return Math.round(n).toLocaleString("en");
}
