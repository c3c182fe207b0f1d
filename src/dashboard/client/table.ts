/**
 * A searchable, sortable, paged table whose rows come from the server (the server filters, sorts and pages,
 * so the page holds one screenful however many connections or streams there are). The controls stay put
 * between frames, so focus and typing survive live updates; only the body is redrawn.
 */
import type { Page } from "../types.ts";
import { h, int } from "./dom.ts";

export interface TabView {
  acc: string;
  q: string;
  sort: string;
  dir: "asc" | "desc";
  offset: number;
  limit: number;
}

export interface Column<T> {
  key: string;
  label: string;
  num?: boolean;
  /** Default true. */
  sortable?: boolean;
  wrap?: boolean;
  /** Hidden at phone widths, to keep the columns that matter on screen (the server still sorts by it). */
  wide?: boolean;
  cell(row: T): Node | string;
}

export interface TableOptions<T> {
  id: string;
  caption: string;
  searchLabel: string;
  columns: Column<T>[];
  view: () => TabView;
  change(v: Partial<TabView>): void;
  rowKey(row: T): string;
  /** Details under a row, shown when the row's toggle is pressed. */
  expand?(row: T): Node | undefined;
}

export interface Table<T> {
  root: HTMLElement;
  update(page: Page<T> | undefined, accounts: string[]): void;
}

function cls<T>(c: Column<T>, extra: string): string {
  return [c.num ? "num" : "", c.wide ? "wide" : "", extra].filter((x) => x !== "").join(" ");
}

export function dataTable<T>(o: TableOptions<T>): Table<T> {
  const search = h("input", { type: "search", id: `${o.id}-q`, placeholder: "name, subject, address…", autocomplete: "off" });
  search.value = o.view().q;
  let timer: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => o.change({ q: search.value, offset: 0 }), 250);
  });
  const acc = h("select", { id: `${o.id}-acc` });
  acc.addEventListener("change", () => o.change({ acc: acc.value, offset: 0 }));
  const size = h("select", { id: `${o.id}-limit` }, ...[25, 50, 100, 200].map((n) => h("option", { value: n }, String(n))));
  size.value = String(o.view().limit);
  size.addEventListener("change", () => o.change({ limit: Number(size.value), offset: 0 }));
  const toolbar = h("div", { class: "toolbar" },
    h("label", { for: search.id }, o.searchLabel, search),
    h("label", { for: acc.id }, "Account", acc),
    h("label", { for: size.id }, "Rows per page", size));

  const expanded = new Set<string>();
  let last: Page<T> | undefined;
  const heads = o.columns.map((c) => {
    const th = h("th", { scope: "col", class: cls(c, "") || undefined });
    if (c.sortable === false) th.textContent = c.label;
    else {
      const b = h("button", { type: "button" }, c.label);
      b.addEventListener("click", () => {
        const v = o.view();
        const dir = v.sort === c.key ? (v.dir === "asc" ? "desc" : "asc") : c.num ? "desc" : "asc";
        o.change({ sort: c.key, dir, offset: 0 });
      });
      th.append(b);
    }
    return th;
  });
  const toggleHead = o.expand ? h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Details")) : undefined;
  const tbody = h("tbody");
  const table = h("table", { id: o.id },
    h("caption", { class: "sr-only" }, o.caption),
    h("thead", {}, h("tr", {}, toggleHead ?? "", ...heads)),
    tbody);
  const status = h("span", { role: "status", "aria-live": "polite", id: `${o.id}-status` });
  const prev = h("button", { type: "button", id: `${o.id}-prev` }, "‹ Previous");
  const next = h("button", { type: "button", id: `${o.id}-next` }, "Next ›");
  prev.addEventListener("click", () => {
    const v = o.view();
    o.change({ offset: Math.max(0, v.offset - v.limit) });
  });
  next.addEventListener("click", () => {
    const v = o.view();
    o.change({ offset: v.offset + v.limit });
  });
  const root = h("div", {}, toolbar, h("div", { class: "tablewrap" }, table), h("div", { class: "pager" }, prev, next, status));

  const render = () => {
    const page = last;
    const v = o.view();
    heads.forEach((th, i) => {
      const c = o.columns[i];
      if (v.sort === c.key) th.setAttribute("aria-sort", v.dir === "asc" ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    if (page === undefined) {
      status.textContent = "loading…";
      return;
    }
    const span = o.columns.length + (o.expand ? 1 : 0);
    const rows: HTMLElement[] = [];
    for (const r of page.rows) {
      const key = o.rowKey(r);
      const tr = h("tr", { "data-key": key });
      if (o.expand) {
        const open = expanded.has(key);
        const b = h("button", { type: "button", "aria-expanded": String(open), "aria-label": `Details of ${key}` }, open ? "−" : "+");
        b.addEventListener("click", () => {
          if (expanded.has(key)) expanded.delete(key);
          else expanded.add(key);
          render();
          tbody.querySelector<HTMLButtonElement>(`tr[data-key="${CSS.escape(key)}"] button[aria-expanded]`)?.focus();
        });
        tr.append(h("td", {}, b));
      }
      for (const c of o.columns) tr.append(h("td", { class: cls(c, c.wrap ? "wrap" : "") || undefined }, c.cell(r)));
      rows.push(tr);
      if (o.expand && expanded.has(key)) {
        const d = o.expand(r);
        if (d) rows.push(h("tr", { class: "sub" }, h("td", { colspan: span }, d)));
      }
    }
    if (rows.length === 0) rows.push(h("tr", {}, h("td", { colspan: span, class: "muted" }, v.q ? "nothing matches" : "none")));
    tbody.replaceChildren(...rows);
    const from = page.total === 0 ? 0 : page.offset + 1;
    const text = `${int(from)}–${int(page.offset + page.rows.length)} of ${int(page.total)}`;
    if (status.textContent !== text) status.textContent = text; // announced only when it changes
    prev.disabled = page.offset === 0;
    next.disabled = page.offset + page.limit >= page.total;
  };

  return {
    root,
    update(page, accounts) {
      last = page;
      const want = ["", ...accounts];
      const have = [...acc.options].map((x) => x.value);
      if (want.join("\n") !== have.join("\n")) {
        acc.replaceChildren(...want.map((a) => h("option", { value: a }, a === "" ? "all accounts" : a)));
      }
      acc.value = o.view().acc;
      render();
    },
  };
}
