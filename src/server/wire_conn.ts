/**
 * The plumbing a server-to-server connection (route, gateway) shares, used by composition: the pending
 * output and its flush (once per microtask however many writes queued it), the handshake deadline, server
 * PINGs with stale detection, the label in log lines, and the one way such a connection ends: what is
 * pending is written, the owner is told once (teardown hook) to release what it holds, the transport is
 * closed. The owner keeps its protocol, its subscriptions and its own timers.
 *
 * Its input goes through an InputGate: while a message it carries is routed, the link is the server's current
 * producer, and a local client falling behind on those messages holds the link's reading (capped like a client
 * publisher's stall), so that TCP slows the peer instead of the client's backlog growing until it is cut.
 */
import type { Duplex } from "../transport/types.ts";
import type { Clock, Timer } from "../runtime/clock.ts";
import { lightRuntimeClock } from "../runtime/light_timers.ts";
import { type FlowConsumer, InputGate, type Producer, producerStallCapMs, type ProducerSlot } from "./flow.ts";
import { Keepalive } from "./keepalive.ts";
import { OutBuffer } from "./outbound.ts";

const enc = new TextEncoder();
const PING = enc.encode("PING\r\n");
const PONG = enc.encode("PONG\r\n");

export type WireState = "handshake" | "active" | "closed";

export interface WireOptions {
  readonly cid: number;
  /** Connection id tag in log lines: "rid" for routes, "gid" for gateways. */
  readonly tag: string;
  /** Milliseconds between server PINGs; 0 or less sends none. */
  readonly pingInterval: number;
  /** Unanswered PINGs after which the connection is stale. */
  readonly pingMax: number;
  /** The server's current-producer slot: input is routed with this link as the producer. */
  readonly producers?: ProducerSlot;
  /** How long the link's input waits for a local consumer that falls behind (ms). */
  readonly stallCapMs?: number;
  /**
   * Times the handshake deadline, the PINGs and the stall cap (tests inject a ManualClock). By default light timers
   * (light_timers.ts): on Deno a runtime setTimeout loads Node's timer layer for good, and every link has these.
   */
  readonly clock?: Clock;
}

export interface WireHooks {
  /** Input from the peer, in order (held while a stall lasts). */
  feed?(data: Uint8Array): void;
  /** The connection ended (once, whoever ended it): release what the owner holds. */
  teardown(reason: string): void;
  /** Just before pending output is handed over (flush and close), e.g. to forget frames an outbox tracks. */
  beforeWrite?(): void;
  /** After a flush handed output to the transport. */
  afterFlush?(): void;
  /** The transport wrote a batch a flush lent it (a producer waiting for the backlog to shrink may go on). */
  afterWritten?(): void;
}

/** The options that make a link's input a producer of `server`, its stalls capped as a client's are. */
export function linkInput(server: ProducerSlot & { readonly options: { readonly write_deadline: number } }): Pick<WireOptions, "producers" | "stallCapMs"> {
  return { producers: server, stallCapMs: producerStallCapMs(server.options.write_deadline) };
}

export class WireConn implements Producer {
  /** Its input is held at linkReaderMark by a local client (flow.ts). */
  readonly link = true;
  readonly duplex: Duplex;
  readonly out = new OutBuffer(16 * 1024);
  state: WireState = "handshake";
  closeReason = "";
  readonly #cid: number;
  readonly #tag: string;
  readonly #hooks: WireHooks;
  readonly #keepalive: Keepalive;
  #flushQueued = false;
  #handshakeTimer: Timer | undefined;
  readonly #gate: InputGate | undefined;
  readonly #clock: Clock;
  /** PINGs sent and PONGs received: the peer answers every PING, in order (see afterPeerRead). */
  #pingsOut = 0;
  #pongsIn = 0;
  /** Callers waiting for the PONG that answers PING number `at`. */
  #readWaiters: { at: number; done: () => void }[] = [];

  constructor(duplex: Duplex, opts: WireOptions, hooks: WireHooks) {
    this.duplex = duplex;
    this.#cid = opts.cid;
    this.#tag = opts.tag;
    this.#hooks = hooks;
    this.#clock = opts.clock ?? lightRuntimeClock;
    const feed = hooks.feed;
    const slot = opts.producers;
    if (feed !== undefined && slot !== undefined) {
      this.#gate = new InputGate((data) => {
        const prev = slot.currentProducer;
        slot.currentProducer = this;
        try {
          feed(data);
        } finally {
          slot.currentProducer = prev;
        }
      }, () => this.state === "closed", opts.stallCapMs ?? producerStallCapMs(10_000), duplex.pauseReading !== undefined ? (paused) => duplex.pauseReading?.(paused) : undefined, this.#clock, () => duplex.freshReads === true, undefined, duplex.recycleRead !== undefined ? (d) => duplex.recycleRead?.(d) : undefined);
    }
    this.#keepalive = new Keepalive(opts.pingInterval, opts.pingMax, () => {
      this.#pingsOut++;
      this.out.bytes(PING);
      this.flushSoon();
    }, () => this.closeWithError("Stale Connection", "Stale Connection"), this.#clock);
  }

  get rttMs(): number {
    return this.#keepalive.rttMs;
  }

  /** Input from the transport (valid only during the call): fed to the owner now, or held during a stall. */
  receive(data: Uint8Array): void {
    if (this.#gate !== undefined) this.#gate.push(data);
    else this.#hooks.feed?.(data);
  }

  /** Is the input held because a consumer fell behind? */
  get inputStalled(): boolean {
    return this.#gate?.stalled ?? false;
  }

  /** A local consumer fell behind on what this link carries in: hold the input (never for another link). */
  stallFor(consumer: FlowConsumer): void {
    if (consumer.link === true) return;
    this.#gate?.stallFor(consumer, true);
  }

  /** Arm the handshake deadline (closing with `reason` if still in handshake then) and the PINGs. */
  startTimers(handshakeMs: number, reason: string): void {
    this.#handshakeTimer = this.#clock.after(handshakeMs, () => {
      if (this.state === "handshake") this.close(reason);
    });
    this.#keepalive.start();
  }

  /** The handshake is complete. */
  activate(): void {
    this.state = "active";
    this.#handshakeTimer?.cancel();
  }

  /** Measure the round trip now (one PING), instead of at the first keepalive. */
  measureRtt(): void {
    this.#keepalive.pingNow();
  }

  /** The peer pinged us. */
  ping(): void {
    this.out.bytes(PONG);
    this.flushSoon();
  }

  /** The peer answered our PING. */
  pong(): void {
    this.#keepalive.pong();
    this.#pongsIn++;
    const w = this.#readWaiters;
    while (w.length > 0 && w[0].at <= this.#pongsIn) w.shift()!.done();
  }

  /**
   * Calls `done` once the peer has read and acted on everything queued for it so far (one PING after it; the
   * PONG that answers it), or once the connection ends. What the peer did on reading it (an RS+ passed on to
   * its own gateways, say) was queued before that PONG.
   */
  afterPeerRead(done: () => void): void {
    if (this.state === "closed") {
      done();
      return;
    }
    this.#pingsOut++;
    this.#readWaiters.push({ at: this.#pingsOut, done });
    this.out.bytes(PING);
    this.flushSoon();
  }

  send(line: string): void {
    this.out.text(line);
    this.flushSoon();
  }

  flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(this.#flushTask);
  }

  /** The lent batch's release, then the owner's hook: one closure for every flush. */
  readonly #written = (view: Uint8Array): void => {
    this.out.release(view);
    this.#hooks.afterWritten?.();
  };

  /** The owner's hook for a batch written at once (OutBuffer.flushTo): nothing to release. */
  readonly #afterWritten = (): void => {
    this.#hooks.afterWritten?.();
  };

  /** One closure for every flush (not one per message). */
  readonly #flushTask = () => this.flush();

  flush(): void {
    this.#flushQueued = false;
    this.#hooks.beforeWrite?.();
    if (this.out.len === 0 || this.state === "closed") return;
    this.out.flushTo(this.duplex, this.#written, this.#afterWritten);
    this.#hooks.afterFlush?.();
  }

  closeWithError(text: string, reason: string): void {
    if (this.state === "closed") return;
    this.out.text(`-ERR '${text}'\r\n`);
    this.close(reason);
  }

  /** End the connection after writing what is pending. */
  close(reason: string): void {
    if (this.state === "closed") return;
    this.#flushQueued = false;
    this.#hooks.beforeWrite?.();
    if (this.out.len > 0) this.duplex.write(this.out.take());
    this.#end(reason);
    this.duplex.close();
  }

  /** End the connection dropping what is pending (a slow consumer). */
  drop(reason: string): void {
    this.out.len = 0;
    this.#end(reason);
    this.duplex.close();
  }

  /** The transport closed under us. */
  closed(defaultReason: string): void {
    if (this.state !== "closed") this.#end(this.closeReason || defaultReason);
  }

  #end(reason: string): void {
    this.state = "closed";
    this.closeReason = reason;
    this.#keepalive.stop();
    this.#handshakeTimer?.cancel();
    this.#hooks.teardown(reason);
    // Nothing more will be read there: whoever waited on the peer waits no longer.
    const w = this.#readWaiters;
    this.#readWaiters = [];
    for (const x of w) x.done();
  }

  label(): string {
    const i = this.duplex.info;
    return `${i.remoteHost}:${i.remotePort} - ${this.#tag}:${this.#cid}`;
  }
}
