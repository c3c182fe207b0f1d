/**
 * The read-only message browser panel: pick a stream (or a KV bucket), read messages from a sequence on,
 * filtered by subject; for a bucket, its keys and each key's history. Requests go to /dashboard/api/* only
 * when the viewer asks; the stream list itself arrives with the live frames.
 */
import type { BrowsedMsg } from "../types.ts";
import { bytes, h, int } from "./dom.ts";

export interface BrowserPanel {
  root: HTMLElement;
  update(streams: Array<{ name: string; kv?: string }>, allowed: boolean): void;
}

async function getJson<T>(url: string): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    const res = await fetch(url, { headers: { accept: "application/json" } });
    const body = await res.json() as T & { error?: string };
    if (!res.ok) return { ok: false, error: body.error ?? `HTTP ${res.status}` };
    return { ok: true, value: body };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

function msgView(m: BrowsedMsg, current: boolean): HTMLElement {
  return h("article", { class: "msg", "data-seq": m.seq, "aria-label": `message ${m.seq} on ${m.subject}` },
    h("div", { class: "meta" },
      h("strong", {}, m.subject),
      h("span", {}, `seq ${int(m.seq)}`),
      h("time", { datetime: m.time }, m.time.replace("T", " ").replace(/\.\d+Z$/, "Z")),
      h("span", {}, bytes(m.size)),
      m.op ? h("span", { class: "pill down" }, m.op) : "",
      current ? h("span", { class: "pill current" }, "current") : "",
      m.binary ? h("span", { class: "pill" }, "binary, base64") : ""),
    m.headers ? h("pre", { class: "muted" }, m.headers.trim()) : "",
    h("pre", { class: "data" }, m.binary ? m.data : pretty(m.data)));
}

/** JSON objects and arrays are indented for reading; anything else is shown as it is. */
function pretty(text: string): string {
  const t = text.trimStart();
  if (!t.startsWith("{") && !t.startsWith("[")) return text;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function browserPanel(): BrowserPanel {
  const stream = h("select", { id: "browse-stream" });
  const seq = h("input", { id: "browse-seq", type: "number", min: 1, value: 1, inputmode: "numeric" });
  const subject = h("input", { id: "browse-subject", type: "text", placeholder: "> (all)", autocomplete: "off" });
  const load = h("button", { type: "submit", id: "browse-load" }, "Read messages");
  const form = h("form", { class: "toolbar", "aria-label": "Read stream messages" },
    h("label", { for: stream.id }, "Stream or bucket", stream),
    h("label", { for: seq.id }, "From sequence", seq),
    h("label", { for: subject.id }, "Subject filter", subject),
    load);
  const out = h("div", { class: "msgs", id: "browse-messages", "aria-live": "polite" });
  const keyFilter = h("input", { id: "browse-key-q", type: "search", placeholder: "filter keys", autocomplete: "off" });
  const keyRefresh = h("button", { type: "button", id: "browse-keys-refresh" }, "Refresh keys");
  const keys = h("ul", { class: "keys", id: "browse-keys", "aria-label": "Keys" });
  const keysBox = h("section", { id: "browse-kv", hidden: true, "aria-labelledby": "browse-kv-h" },
    h("h3", { id: "browse-kv-h" }, "Keys"),
    h("div", { class: "toolbar" }, h("label", { for: keyFilter.id }, "Filter keys", keyFilter), keyRefresh),
    keys);
  const notice = h("p", { class: "notice", id: "browse-off", hidden: true },
    "The message browser is off: this server requires client credentials and the dashboard has none.");
  const grid = h("div", { class: "browse" }, keysBox, out);
  const root = h("div", {}, notice, form, grid);

  let known = "";
  const kvOf = new Map<string, string>();
  const bucket = () => kvOf.get(stream.value);
  const show = (nodes: HTMLElement[], empty: string) =>
    out.replaceChildren(...(nodes.length > 0 ? nodes : [h("p", { class: "muted" }, empty)]));
  const fail = (e: string) => out.replaceChildren(h("p", { class: "notice", role: "alert" }, e));

  async function readMessages(): Promise<void> {
    if (stream.value === "") return;
    const q = new URLSearchParams({ seq: seq.value || "1", subject: subject.value.trim(), limit: "25" });
    const r = await getJson<BrowsedMsg[]>(`/dashboard/api/streams/${encodeURIComponent(stream.value)}/messages?${q}`);
    if (!r.ok) return fail(r.error);
    show(r.value.map((m) => msgView(m, false)), "no messages from there");
  }

  async function loadKeys(): Promise<void> {
    const b = bucket();
    keysBox.hidden = b === undefined;
    grid.classList.toggle("kv", b !== undefined);
    if (b === undefined) return;
    const q = new URLSearchParams({ q: keyFilter.value.trim() });
    const r = await getJson<{ keys: Array<{ key: string; revisions: number }>; total: number }>(
      `/dashboard/api/kv/${encodeURIComponent(b)}/keys?${q}`,
    );
    if (!r.ok) return fail(r.error);
    keys.replaceChildren(...r.value.keys.map((k) => {
      const btn = h("button", { type: "button", "data-key": k.key }, k.key, h("span", { class: "muted" }, ` ×${k.revisions}`));
      btn.addEventListener("click", () => void history(b, k.key));
      return h("li", {}, btn);
    }));
    if (r.value.keys.length === 0) keys.replaceChildren(h("li", { class: "muted" }, "no keys"));
  }

  async function history(b: string, key: string): Promise<void> {
    const r = await getJson<BrowsedMsg[]>(`/dashboard/api/kv/${encodeURIComponent(b)}/history?key=${encodeURIComponent(key)}`);
    if (!r.ok) return fail(r.error);
    const list = r.value;
    show([h("h3", {}, `${key}: ${list.length} revision${list.length === 1 ? "" : "s"}`),
      ...list.map((m, i) => msgView(m, i === list.length - 1)).reverse()], "no revisions");
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void readMessages();
  });
  stream.addEventListener("change", () => {
    out.replaceChildren();
    void loadKeys();
  });
  let kt: ReturnType<typeof setTimeout> | undefined;
  keyFilter.addEventListener("input", () => {
    clearTimeout(kt);
    kt = setTimeout(() => void loadKeys(), 250);
  });
  keyRefresh.addEventListener("click", () => void loadKeys());

  return {
    root,
    update(streams, allowed) {
      notice.hidden = allowed;
      form.hidden = !allowed;
      if (!allowed) return;
      const sig = streams.map((x) => x.name).join("\n");
      if (sig === known) return;
      known = sig;
      const current = stream.value;
      kvOf.clear();
      for (const x of streams) if (x.kv !== undefined) kvOf.set(x.name, x.kv);
      stream.replaceChildren(...streams.map((x) =>
        h("option", { value: x.name }, x.kv !== undefined ? `${x.name} (KV bucket ${x.kv})` : x.name)
      ));
      if (streams.some((x) => x.name === current)) stream.value = current;
      if (stream.value !== current) void loadKeys();
    },
  };
}
