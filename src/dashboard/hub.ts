/**
 * The dashboard's one live feed: every viewer holds one server-sent-event stream; once a tick the hub reads
 * the monitoring endpoints once, samples the rates, and sends each viewer a frame for the tab it has open.
 * The timer runs only while someone watches; streams end when the server shuts down (so the HTTP listener
 * can close), and a viewer that does not keep up misses frames instead of growing a queue.
 */
import { addSample, newRateState, type RateState, rebaseIfStale } from "./rates.ts";
import {
  accountNames,
  CONN_COLUMNS,
  connMatches,
  connRows,
  counters,
  type Json,
  jsSummary,
  pageOf,
  serverSummary,
  STREAM_COLUMNS,
  streamMatches,
  streamRows,
  SUB_COLUMNS,
  subMatches,
  subRows,
  topology,
} from "./snapshot.ts";
import type { Hello, Tick } from "./types.ts";
import type { View } from "./view.ts";

/** Reads a monitoring endpoint (through the monitoring app itself, so nothing else is exposed). */
export type LocalGet = (path: string) => Promise<Json>;

export interface HubOptions {
  intervalMs?: number;
  /** Rate points kept (at one a tick). */
  historySize?: number;
  /** Whether the message browser is available to show in the page. */
  browse: () => boolean;
  /** The account whose streams the message browser reads. */
  browseAccount: () => string;
  now?: () => number;
}

interface Viewer {
  view: View;
  controller: ReadableStreamDefaultController<Uint8Array>;
}

const enc = new TextEncoder();

/** Enough rows that the server, not /connz's default page, decides what a viewer sees. */
const ALL = 1_000_000;

export class DashboardHub {
  readonly intervalMs: number;
  readonly #get: LocalGet;
  readonly #opts: HubOptions;
  readonly #now: () => number;
  readonly #viewers = new Set<Viewer>();
  readonly #rates: RateState;
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;
  #closed = false;

  constructor(get: LocalGet, opts: HubOptions) {
    this.#get = get;
    this.#opts = opts;
    this.intervalMs = opts.intervalMs ?? 1000;
    this.#now = opts.now ?? Date.now;
    this.#rates = newRateState(opts.historySize ?? 300);
  }

  get viewers(): number {
    return this.#viewers.size;
  }

  /** A new viewer's event stream: "hello" with the rate history, a first frame at once, then one a tick. */
  open(view: View): ReadableStream<Uint8Array> {
    let viewer: Viewer | undefined;
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        if (this.#closed) {
          controller.close();
          return;
        }
        viewer = { view, controller };
        this.#viewers.add(viewer);
        const hello: Hello = { history: [...this.#rates.history], interval_ms: this.intervalMs, browse: this.#opts.browse() };
        controller.enqueue(enc.encode(`retry: 2000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`));
        this.#timer ??= setInterval(() => void this.tick(), this.intervalMs);
        void this.#frameFor(viewer, undefined);
      },
      cancel: () => {
        if (viewer !== undefined) this.#drop(viewer);
      },
    }, new CountQueuingStrategy({ highWaterMark: 8 }));
  }

  /** Ends every stream and stops the timer; later opens end at once. */
  close(): void {
    this.#closed = true;
    for (const v of [...this.#viewers]) {
      this.#drop(v);
      try {
        v.controller.close();
      } catch { /* already closed by the viewer */ }
    }
  }

  #drop(v: Viewer): void {
    this.#viewers.delete(v);
    if (this.#viewers.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** One tick: sample the counters, send every viewer its frame. Ticks never overlap. */
  async tick(): Promise<void> {
    if (this.#busy || this.#viewers.size === 0) return;
    this.#busy = true;
    try {
      const base = await this.#base();
      const rate = addSample(this.#rates, counters(base.server, base.t));
      const frame: Tick = { ...base, rate };
      // Viewers on the same tab share one read of each endpoint per tick.
      const memo = new Map<string, Promise<Json>>();
      const get: LocalGet = (path) => {
        let p = memo.get(path);
        if (p === undefined) memo.set(path, p = this.#get(path));
        return p;
      };
      for (const v of [...this.#viewers]) await this.#frameFor(v, frame, get);
    } catch (e) {
      // A monitoring read failing is a bug elsewhere; say so on every stream rather than go silent.
      const msg = e instanceof Error ? e.message : String(e);
      for (const v of [...this.#viewers]) this.#send(v, "failure", { error: msg });
    } finally {
      this.#busy = false;
    }
  }

  async #base(): Promise<Omit<Tick, "rate">> {
    // /varz is the frame; the others each fill one part, and one failing leaves its part empty and says so.
    const errors: string[] = [];
    const part = (path: string) =>
      this.#get(path).catch((e: unknown) => {
        errors.push(e instanceof Error ? e.message : String(e));
        return {} as Json;
      });
    const [varz, routez, gatewayz, leafz, accountz, jsz] = await Promise.all([
      this.#get("/varz"),
      part("/routez"),
      part("/gatewayz"),
      part("/leafz"),
      part("/accountz"),
      part("/jsz"),
    ]);
    return {
      ...(errors.length > 0 ? { errors } : {}),
      t: this.#now(),
      server: serverSummary(varz),
      topology: topology(varz, routez, gatewayz, leafz),
      accounts: accountNames(accountz, ["$G"]),
      js: jsSummary(jsz),
    };
  }

  /** The viewer's frame: the shared part plus its tab's table. `shared` undefined: a first frame, read now. */
  async #frameFor(v: Viewer, shared: Tick | undefined, get: LocalGet = this.#get): Promise<void> {
    try {
      let base: Tick;
      if (shared !== undefined) base = shared;
      else {
        const b = await this.#base();
        // A viewer arriving when nobody watched sets the rates' baseline, so the next tick has a rate of the
        // last second, not an average over the time nobody looked.
        rebaseIfStale(this.#rates, counters(b.server, b.t), 2 * this.intervalMs);
        base = { ...b, rate: this.#rates.history.at(-1) };
      }
      const frame: Tick = { ...base, ...(await this.#table(v.view, get)) };
      this.#send(v, "tick", frame);
    } catch (e) {
      this.#send(v, "failure", { error: e instanceof Error ? e.message : String(e) });
    }
  }

  async #table(view: View, get: LocalGet): Promise<Partial<Tick>> {
    const acc = (a: string) => view.acc === "" || a === view.acc;
    switch (view.tab) {
      case "connections": {
        const rows = connRows(await get(`/connz?limit=${ALL}&subs=detail&auth=true`)).filter((r) => acc(r.account));
        return { connections: pageOf(rows, { ...view, sort: view.sort || "cid" }, CONN_COLUMNS, "cid", connMatches) };
      }
      case "subscriptions": {
        const rows = subRows(await get(`/subsz?subs=1&limit=${ALL}`)).filter((r) => acc(r.account));
        return { subscriptions: pageOf(rows, view, SUB_COLUMNS, "subject", subMatches) };
      }
      case "jetstream": {
        const [jsz, varz] = await Promise.all([get("/jsz?accounts=true&streams=true&consumers=true&config=true"), get("/varz")]);
        const self = typeof varz.server_name === "string" ? varz.server_name : undefined;
        const rows = streamRows(jsz, self).filter((r) => acc(r.account));
        return { streams: pageOf(rows, view, STREAM_COLUMNS, "name", streamMatches) };
      }
      case "browser": {
        // Only the account the browser reads as (see browse.ts).
        const rows = streamRows(await get("/jsz?accounts=true&streams=true&config=true"))
          .filter((r) => r.account === this.#opts.browseAccount());
        return { stream_names: rows.map((r) => ({ name: r.name, kv: r.kv })).sort((a, b) => (a.name < b.name ? -1 : 1)) };
      }
      default:
        return {};
    }
  }

  #send(v: Viewer, event: string, data: unknown): void {
    if (!this.#viewers.has(v)) return;
    // A viewer that has not read the last frame yet skips this one.
    if ((v.controller.desiredSize ?? 1) <= 0) return;
    try {
      v.controller.enqueue(enc.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
    } catch {
      this.#drop(v);
    }
  }
}
