/**
 * Stream info from the stream's leader, wherever the asking server is. The meta leader answers stream list and
 * account info, but it leads only some of the streams and a follower's state lags; so it asks each stream's
 * group on `$JSC.SI.<group>` (in the system account) and the group's leader answers with the stream's info.
 * One gather waits for all answers or `timeoutMs`, whichever comes first; what did not arrive is missing (a
 * stream without a leader, a server that is down) and the caller says so, as nats-server's `missing` does.
 * The same query asks a consumer group's leader for its voters (a moving stream's leader waits for its consumers).
 */
import type { BusMsg, JsBus } from "../types.ts";
import { peerToken } from "./transport.ts";
import type { Timer } from "../../runtime/clock.ts";
import { lightTimeout } from "../../runtime/light_timers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const REQ = "$JSC.SI.";
const REPLY = "$JSC.SIR.";

type Json = Record<string, unknown>;

export interface InfoQueryOptions {
  readonly bus: JsBus;
  readonly self: string;
  /**
   * The info of the stream whose Raft group's subject token (`peerToken(group)`) is `token`, when this server
   * leads it; else undefined (stay silent).
   */
  readonly serve: (token: string) => Json | undefined;
  readonly timeoutMs?: number;
  readonly setTimer?: (fn: () => void, ms: number) => unknown;
  readonly clearTimer?: (t: unknown) => void;
}

interface Gather {
  readonly want: Map<string, string>; // group's subject token -> key
  readonly got: Map<string, Json>; // key -> info
  readonly done: (infos: Map<string, Json>) => void;
  timer: unknown;
}

export class InfoQueries {
  readonly #o: InfoQueryOptions;
  readonly #open = new Map<number, Gather>();
  #next = 1;
  #sids: number[] = [];

  constructor(o: InfoQueryOptions) {
    this.#o = o;
  }

  start(): void {
    const { bus, self } = this.#o;
    this.#sids.push(bus.subscribe(`${REQ}*`, (m) => this.#onRequest(m)));
    this.#sids.push(bus.subscribe(`${REPLY}${peerToken(self)}.*`, (m) => this.#onReply(m)));
  }

  stop(): void {
    for (const sid of this.#sids) this.#o.bus.unsubscribe(sid);
    this.#sids = [];
    for (const [id, g] of this.#open) {
      this.#finish(id, g);
    }
  }

  /** Asks the leaders of `items` for their streams' infos; `done` gets them by `keyOf(item)`. */
  gather<T>(
    items: readonly T[],
    keyOf: (t: T) => string,
    groupOf: (t: T) => string,
    done: (infos: Map<string, Json>) => void,
    timeoutMs = this.#o.timeoutMs ?? 2_000,
  ): void {
    const id = this.#next++;
    const g: Gather = { want: new Map(), got: new Map(), done, timer: undefined };
    for (const t of items) g.want.set(peerToken(groupOf(t)), keyOf(t));
    if (g.want.size === 0) return done(g.got);
    this.#open.set(id, g);
    // By default a light timer: on Deno a runtime setTimeout loads Node's timer layer for good (light_timers.ts).
    const set = this.#o.setTimer ?? ((fn: () => void, ms: number) => lightTimeout(ms, fn));
    g.timer = set(() => this.#finish(id, g), timeoutMs);
    const reply = `${REPLY}${peerToken(this.#o.self)}.${id}`;
    for (const token of g.want.keys()) this.#o.bus.publish(`${REQ}${token}`, new Uint8Array(0), { reply });
  }

  #finish(id: number, g: Gather): void {
    if (!this.#open.delete(id)) return;
    const clear = this.#o.clearTimer ?? ((t: unknown) => (t as Timer).cancel());
    if (g.timer !== undefined) clear(g.timer);
    g.done(g.got);
  }

  #onRequest(m: BusMsg): void {
    if (!m.reply) return;
    const token = m.subject.slice(REQ.length);
    const info = this.#o.serve(token);
    if (!info) return;
    // The group id travels back with the info: the asker matches it to what it asked for.
    this.#o.bus.publish(m.reply, enc.encode(JSON.stringify({ group: token, info })));
  }

  #onReply(m: BusMsg): void {
    const id = Number(m.subject.slice(m.subject.lastIndexOf(".") + 1));
    const g = this.#open.get(id);
    if (!g) return;
    let body: { group?: unknown; info?: unknown };
    try {
      body = JSON.parse(dec.decode(m.payload)) as { group?: unknown; info?: unknown };
    } catch {
      return;
    }
    if (typeof body.group !== "string" || typeof body.info !== "object" || body.info === null) return;
    const key = g.want.get(body.group);
    if (key === undefined) return;
    g.got.set(key, body.info as Json);
    if (g.got.size === g.want.size) this.#finish(id, g);
  }
}
