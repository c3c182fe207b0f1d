/**
 * Flow control on the producer side, as nats-server does it: when a consumer of a client's messages falls
 * behind, the client's input is held (a stall) until the consumer catches up or a short cap passes, so that a
 * reader that keeps up is not dropped just because one publisher is fast, and a slower reader slows the
 * publisher down instead of being dropped. A consumer whose backlog did not shrink at all during a whole stall
 * is stuck: it is marked exhausted and stalls nobody until it drains; max_pending then drops it. Only time this
 * server's own loop ran counts towards the cap (see LOOP_HELD_MS).
 */

import type { Clock, Timer } from "../runtime/clock.ts";
import { lightRuntimeClock } from "../runtime/light_timers.ts";
import { freeNow } from "./buffer_pool.ts";

/** A receiver a publishing client can wait for (a client, or a route whose backlog is growing). */
export interface FlowConsumer {
  isClosed(): boolean;
  isBehind(): boolean;
  /**
   * Far enough below the mark that a stall on it may end (when absent: no longer behind). A stall that ended the
   * moment the backlog dipped under the mark would let the producer run one slice before the next stall: a timer
   * per 64 KiB of input.
   */
  caughtUp?(): boolean;
  /** Bytes waiting to reach the peer. */
  backlog(): number;
  stallExhausted: boolean;
  /** Call `wake` once, when the transport has handed all it held to the OS (a stall then ends at once). */
  whenDrained?(wake: () => void): void;
  /**
   * A server-to-server link (route, gateway, leafnode output). Only clients wait for a link: a link's reader
   * waiting for another link could wait in a circle (two routes each waiting for the other to read).
   */
  readonly link?: boolean;
  /** How long a producer waits for this consumer before the stall is over (the gate's own cap when absent). */
  readonly stallCapMs?: number;
}

/**
 * Whoever's input is being routed right now: a publishing client, or the reader of a route, gateway or leafnode
 * link. A consumer that falls behind while taking its messages asks it to hold its input.
 */
export interface Producer {
  stallFor(consumer: FlowConsumer): void;
  /** The reader of a server-to-server link (held at linkReaderMark, not at a client's stall mark). */
  readonly link?: boolean;
}

/** Where the server keeps the producer being routed (set around the routing, restored after: it may nest). */
export interface ProducerSlot {
  currentProducer: Producer | undefined;
}

/** How long a producer waits for a consumer that fell behind: short (nats-server caps it near a second). */
export function producerStallCapMs(writeDeadlineMs: number): number {
  return Math.min(writeDeadlineMs / 2, 750);
}

/**
 * A client's backlog (unflushed plus held by the transport) past which whoever publishes to it is held: half of
 * max_pending as in nats-server, but at most STALL_MARK_MAX. nats-server's writer goroutines keep a consumer's
 * backlog near empty while a publisher runs; here one event loop parses a publisher's input and writes to the
 * consumers in turns, so a consumer a little slower than its publisher filled up to 32 MiB (default max_pending)
 * before anything slowed the publisher, and that memory stayed in RSS. Not much lower: a fan-out's publisher is
 * held whenever any one of its consumers is behind, and at 2 MiB (resuming at 512 KiB) Deno's fanout-16 delivered
 * a quarter to a half of what it did with the old mark (3 of 3 in-process pairs); at 8 MiB it is within noise.
 */
export const STALL_MARK_MAX = 8 * 1024 * 1024;

export function clientStallMark(maxPending: number): number {
  return Math.min(maxPending / 2, STALL_MARK_MAX);
}

/** A stall on a client ends once its backlog is under a quarter of the mark (see FlowConsumer.caughtUp). */
export function clientResumeMark(maxPending: number): number {
  return clientStallMark(maxPending) / 4;
}

/**
 * A link's reader (a route bringing in another server's publishers) is held by a local client at a lower backlog
 * than a publishing client is (the fan-out cost of an early stall that made 2 MiB too low for a client publisher is
 * measured on clients, not links), and what a client's backlog holds is memory at about twice its bytes (64 KiB
 * batches in 128 KiB output buffers). On the
 * subscriber's node of cluster-pubsub-1k (Deno) each hiccup of the subscriber let the route fill its backlog to
 * 8 MiB: +15 MB RSS that malloc kept (104-105 MB at the end; 92-95 at 3 MiB, delivered rate within noise).
 * Above the client's resume mark (2 MiB by default), so that such a stall can end before its cap.
 */
export const LINK_READER_MARK = 3 * 1024 * 1024;

export function linkReaderMark(maxPending: number): number {
  return Math.min(LINK_READER_MARK, clientStallMark(maxPending));
}

/**
 * nats-server reads at most this much at a time; parsing in such slices gives stalls a chance between them, and
 * the output of each slice is flushed before the next is parsed.
 */
const READ_SLICE = 64 * 1024;
/**
 * Input held (during a stall, or between the slices of large reads) past which the transport stops reading: what
 * a connection holds is bounded by this plus one read, and the rest waits in the kernel and, by TCP, in the sender.
 * Between slices each turn parses one slice (see #replay), so a publisher whose reads come faster than that (Bun
 * hands over up to 512 KiB at once) is paused here; a turn must come too: Deno completes a read of a socket with
 * data waiting at once, so a fast publisher's read loop could run on in microtasks and starve the turn that
 * replays (fanout-16 on Deno: 400 MB held, deliveries down to a third).
 */
const HOLD_MAX = 256 * 1024;
/**
 * Reading paused between slices resumes once no more than this is left to parse: the next read is on its way
 * while the last slices are parsed (resumed only when all was through, the reading waited ~0.5 ms per pause on Bun).
 */
const RESUME_AT = 2 * READ_SLICE;

/**
 * A stall's re-check polls every 2 ms (or is woken by a drain); one that comes later than this after the one
 * before means this server's own event loop was held (a collection, a long synchronous job, a host whose CPU
 * others took): the consumer's writes could not complete meanwhile, and the timer runs before the I/O that
 * waited with it. Such a gap counts as this much of the stall, no more: the verdict "stuck" is made on time the
 * loop ran, not on a held loop's (under load 10, a check 445 ms late saw a subscriber that read all along as
 * stuck, the route it paced then ran free into it, and max_pending cut it: cluster/backpressure on Deno).
 */
const LOOP_HELD_MS = 50;

export class InputGate {
  readonly #feed: (data: Uint8Array) => void;
  readonly #closed: () => boolean;
  readonly #capMs: number;
  #stallingOn: Set<FlowConsumer> | undefined;
  /**
   * Each consumer's most backlog while the stall took its deliveries (the rest of the slice that began it goes on
   * to it), to tell a slow reader from a stuck one.
   */
  #marks = new Map<FlowConsumer, number>();
  /** When the stall began, moved on by the time its looks found this server's loop held (LOOP_HELD_MS). */
  #stallStart = 0;
  /** When the stall was last looked at (its start, then each #check). */
  #lastLook = 0;
  /** The one pending re-check of a stall (woken early by a consumer's drain). */
  #timer: Timer | undefined;
  readonly #wake = () => this.#check();
  /** Input not yet fed, in order: held during a stall, or the rest of a large read (see push). */
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  /** The next turn's continuation of a large read. */
  #yield: Timer | undefined;
  readonly #resume = () => {
    this.#yield = undefined;
    this.#replay();
  };
  readonly #pause: ((paused: boolean) => void) | undefined;
  #paused = false;
  /** Consumers of the current stall that are waited for without the cap. */
  #uncapped = new Set<FlowConsumer>();
  readonly #clock: Clock;
  /** Does the transport hand over buffers of their own (Duplex.freshReads)? Then what is held is not copied. */
  readonly #fresh: () => boolean;
  /** Did the slice just fed leave output to flush (see the constructor)? */
  readonly #produced: () => boolean;
  /** Hands a fresh read the gate is done with back to the transport (see the constructor). */
  readonly #recycle: ((data: Uint8Array) => void) | undefined;

  /**
   * `pause`: stops (true) and resumes (false) the transport's reading (absent when it cannot). `clock`: the stall
   * cap and the re-check poll are timed by it, and its `soon` is the next turn (tests inject a ManualClock); by
   * default light timers and the adapter's turn (light_timers.ts): on Deno the runtime's setTimeout and
   * setImmediate load Node's timer layer for the life of the process (+2-3 MB), and any publisher held by a slow
   * subscriber reached them. `freshInput`: the transport's reads
   * are buffers of their own (Duplex.freshReads), held as they are instead of copied. `produced`: asked after each
   * slice of a large read, did it leave output to flush (messages routed, replies queued)? Only then does the
   * next slice wait for the next turn; a slice that produced nothing (a publisher nobody listens to) is followed
   * by the next one at once, since a turn per slice costs a pub-only load a third of its CPU on Bun (a turn lets
   * the transport read again: more, smaller reads, each a fresh buffer). Absent: every slice waits its turn.
   * `recycle`: with fresh input, called once per read with the read (or the view of its rest that was held) once
   * all of it has been fed, the parser keeping no view of it (Duplex.recycleRead): the transport frees its memory
   * at once instead of leaving it to a collection. Not called for input dropped by a close.
   */
  constructor(
    feed: (data: Uint8Array) => void,
    closed: () => boolean,
    capMs: number,
    pause?: (paused: boolean) => void,
    clock: Clock = lightRuntimeClock,
    freshInput: () => boolean = () => false,
    produced: () => boolean = () => true,
    recycle?: (data: Uint8Array) => void,
  ) {
    this.#produced = produced;
    this.#recycle = recycle;
    this.#fresh = freshInput;
    this.#feed = feed;
    this.#closed = closed;
    this.#capMs = capMs;
    this.#pause = pause;
    this.#clock = clock;
  }

  /** Bytes held while stalled or between the slices of a large read (bounded by HOLD_MAX plus a read when the transport can pause). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  #hold(chunk: Uint8Array): void {
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    // Past HOLD_MAX the reading stops, during a stall or between the slices of large reads (see #replay).
    if (!this.#paused && this.#pause !== undefined && this.#heldBytes > HOLD_MAX) {
      this.#paused = true;
      this.#pause(true);
    }
  }

  get stalled(): boolean {
    return this.#stallingOn !== undefined;
  }

  /** Input from the transport (valid only during the call). */
  push(data: Uint8Array): void {
    if (this.#stallingOn === undefined && this.#yield !== undefined) {
      // Another read before the turn that goes on with the held rest: the turn may not come soon (Deno completes
      // reads of a socket with data waiting in microtasks, which run before it), so the held part makes its
      // progress here, one turn's worth, before this read waits behind it; the output of what was parsed
      // before is flushed already (microtasks run between reads).
      this.#replay();
      if (this.#held.length === 0 && this.#stallingOn === undefined) {
        this.#yield.cancel();
        this.#yield = undefined;
      }
    }
    if (this.#stallingOn !== undefined || this.#yield !== undefined) {
      this.#hold(this.#fresh() ? data : data.slice());
      return;
    }
    const n = data.length;
    if (n <= READ_SLICE) {
      this.#feed(data);
      this.#done(data);
      return;
    }
    // A large read (Bun hands over up to 512 KiB at once): one slice now, the rest on the next turn of the
    // event loop, so that what this slice produced is flushed first (nats-server flushes after each read of at
    // most 64 KiB). Parsed whole, a read's first message waited for its last one: thousands of messages, tens
    // of ms while the code is still cold.
    const at = this.#feedQuietSlices(data);
    if (at === n) this.#done(data);
    if (at === n || this.#closed()) return;
    this.#hold(this.#fresh() ? data.subarray(at) : data.slice(at));
    this.#continueSoon();
  }

  /** All of a read was fed: a fresh one goes back to the transport. */
  #done(data: Uint8Array): void {
    if (this.#recycle !== undefined && this.#fresh()) this.#recycle(data);
  }

  /**
   * All of a held chunk was fed: a fresh read goes back to the transport, and the gate's own copy of a reused
   * buffer's bytes is freed now (each stall on a link that backs up held up to HOLD_MAX of copies, garbage the
   * moment they were parsed: Deno's malloc kept what piled up between collections).
   */
  #doneHeld(chunk: Uint8Array): void {
    if (this.#recycle !== undefined && this.#fresh()) this.#recycle(chunk);
    else if (!this.#fresh()) freeNow(chunk.buffer as ArrayBuffer);
  }

  /**
   * Feeds `data` slice by slice for as long as each slice produces no output and no stall begins; returns how
   * far it got (at least one slice).
   */
  #feedQuietSlices(data: Uint8Array): number {
    const n = data.length;
    let at = 0;
    do {
      const end = Math.min(n, at + READ_SLICE);
      this.#feed(data.subarray(at, end));
      at = end;
    } while (at < n && this.#stallingOn === undefined && !this.#closed() && !this.#produced());
    return at;
  }

  /**
   * Holds input until `consumer` catches up. `capped` (the default) ends the wait after the cap; uncapped waits
   * last as long as the consumer is behind and open (the producer waiting for its own backlog).
   */
  stallFor(consumer: FlowConsumer, capped = true): void {
    if (this.#stallingOn === undefined) {
      this.#stallingOn = new Set();
      this.#stallStart = this.#clock.now();
      this.#lastLook = this.#stallStart;
      this.#recheck(1);
    }
    if (!this.#paused && this.#pause !== undefined && this.#heldBytes > HOLD_MAX) {
      // The rest of a large read is held already: past the bound, reading stops as during any stall.
      this.#paused = true;
      this.#pause(true);
    }
    if (!this.#stallingOn.has(consumer)) consumer.whenDrained?.(this.#wake);
    this.#stallingOn.add(consumer);
    if (!capped) this.#uncapped.add(consumer);
    const backlog = consumer.backlog();
    const mark = this.#marks.get(consumer);
    if (mark === undefined || backlog > mark) this.#marks.set(consumer, backlog);
  }

  /** Go on with what is held on the next turn (unless a stall holds it: its end replays it). */
  #continueSoon(): void {
    if (this.#stallingOn === undefined && this.#yield === undefined && this.#held.length > 0) {
      this.#yield = this.#clock.soon(this.#resume);
    }
  }

  /**
   * Feeds what is held, in order, in READ_SLICE pieces, one that produces output per turn; stops where a stall
   * begins (its end replays the rest). Takes input again (after a pause) once at most RESUME_AT is left.
   */
  #replay(): void {
    // One slice per turn (more only while slices produce nothing): what a turn writes to each consumer stays
    // about one slice's output. Parsing more per turn to keep up with the reads grew every consumer's output
    // buffer to hold a turn's worth (Bun's fan-out: up to ~768 KiB of PUBs per turn, 1 MiB output buffers per
    // consumer); a transport that can pause is paused instead while more than HOLD_MAX is held (see #hold).
    // One that cannot (WebSocket, in-memory) gets more per turn when reads come in faster: what stays held is
    // then bounded by HOLD_MAX plus a read.
    let budget = this.#pause !== undefined ? READ_SLICE : Math.max(READ_SLICE, this.#heldBytes - HOLD_MAX);
    const held = this.#held;
    while (held.length > 0) {
      if (this.#closed() || this.#stallingOn !== undefined) return;
      if (budget <= 0 && this.#produced()) {
        // Reading resumes before the last of what is held is parsed, so that the next read is there when it is.
        if (this.#heldBytes <= RESUME_AT) this.#resumeReading();
        this.#continueSoon();
        return;
      }
      const head = held[0];
      const n = Math.min(head.length, READ_SLICE);
      // Held chunks are copies or fresh reads of their own: a view of one stays valid.
      if (n === head.length) held.shift();
      else held[0] = head.subarray(n);
      this.#heldBytes -= n;
      budget -= n;
      if (n === head.length) {
        this.#feed(head);
        this.#doneHeld(head);
      } else {
        this.#feed(head.subarray(0, n));
      }
    }
    this.#resumeReading();
  }

  #resumeReading(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#pause?.(false);
    }
  }

  #recheck(ms: number): void {
    this.#timer?.cancel();
    this.#timer = this.#clock.after(ms, this.#wake);
  }

  #check(): void {
    if (this.#timer !== undefined) {
      this.#timer.cancel();
      this.#timer = undefined;
    }
    const set = this.#stallingOn;
    if (set === undefined || this.#closed()) return;
    for (const c of set) {
      if (c.isClosed() || (c.caughtUp !== undefined ? c.caughtUp() : !c.isBehind())) {
        set.delete(c);
        this.#uncapped.delete(c);
      }
    }
    const now = this.#clock.now();
    const gap = now - this.#lastLook;
    this.#lastLook = now;
    if (gap > LOOP_HELD_MS) this.#stallStart += gap - LOOP_HELD_MS;
    const waited = now - this.#stallStart;
    for (const c of set) {
      // Past its cap a consumer is waited for no longer; one whose backlog did not shrink at all is stuck.
      if (this.#uncapped.has(c) || waited < (c.stallCapMs ?? this.#capMs)) continue;
      if (c.backlog() >= (this.#marks.get(c) ?? 0)) c.stallExhausted = true;
      set.delete(c);
    }
    if (set.size > 0) {
      // Polling stays as the fallback for consumers that cannot say when they drained.
      this.#recheck(2);
      return;
    }
    this.#marks.clear();
    this.#uncapped.clear();
    this.#stallingOn = undefined;
    this.#replay();
  }
}
