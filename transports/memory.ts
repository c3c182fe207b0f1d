/**
 * An in-memory network for tests and simulation. Runtime-agnostic (web APIs only).
 *
 * Each simulated machine is a named node: `net.node("a")` is a Transport whose listeners belong to "a" and whose
 * dials come from "a". Delivery is asynchronous and ordered per direction. Faults:
 * - `partition(a, b)`: bytes between a and b stall (as TCP retransmits would) and new dials between them fail;
 *   `heal()` lets the stalled bytes through.
 * - `dropBetween(a, b)` / `dropNode(a)` / `drop(pred)`: abrupt reset; both ends see onClose(err), queued bytes
 *   are lost.
 */
import type { AcceptFn, ConnHandler, ConnInfo, Duplex, Listener, ListenOptions, Transport } from "../src/transport/types.ts";
import { DEFAULT_HIGH_WATER_MARK } from "./write_queue.ts";

export interface MemoryNetworkOptions {
  /** Delay of every delivery. 0 (default) delivers on a microtask (with a periodic yield to timers). */
  latencyMs?: number;
  /** `write` returns false once this many bytes wait to be delivered. */
  highWaterMark?: number;
  /**
   * Endpoints offer Duplex.writeNow, as Bun's TCP does: a batch is copied out of the caller's memory at once and
   * delivered as `write` delivers it. For tests of what the core does differently for such transports.
   */
  writeNow?: boolean;
}

/** One live connection, as seen by fault-injecting tests. */
export interface MemoryConnView {
  readonly id: number;
  /** Node that dialed. */
  readonly from: string;
  /** Node that owns the listener. */
  readonly to: string;
  readonly toPort: number;
}

const WILDCARD = new Set(["", "0.0.0.0", "::", "*", "[::]"]);
const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

const NOOP_HANDLER: ConnHandler = { onData() {}, onDrain() {}, onClose() {} };

/** Microtask delivery, but after a long run of them yield to the macrotask queue so timers still fire. */
const MAX_MICROTASK_BURST = 1000;
let burst = 0;
let burstResetArmed = false;
function resetBurst(): void {
  burst = 0;
  burstResetArmed = false;
}
function schedule(fn: () => void, latencyMs: number): void {
  if (latencyMs > 0) {
    setTimeout(fn, latencyMs);
    return;
  }
  if (burst < MAX_MICROTASK_BURST) {
    burst++;
    if (!burstResetArmed) {
      burstResetArmed = true;
      setTimeout(resetBurst, 0);
    }
    queueMicrotask(fn);
  } else {
    setTimeout(fn, 0);
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

class MemEndpoint implements Duplex {
  handler: ConnHandler = NOOP_HANDLER;
  peer!: MemEndpoint;
  /** Bytes written and not yet delivered to the peer, in order. */
  private readonly outbox: Uint8Array[] = [];
  private outHead = 0;
  private outBytes = 0;
  /** Our close is queued behind the outbox. */
  private finQueued = false;
  private scheduled = false;
  private needDrain = false;
  closed = false;
  private readonly deliverTask = () => {
    this.scheduled = false;
    this.deliver();
  };
  /** Chunks writeNow handed over: in the outbox, not in bufferedAmount (the kernel has them). */
  private readonly taken = new WeakSet<Uint8Array>();
  /** Duplex.writeNow, when the network offers it (MemoryNetworkOptions.writeNow). */
  readonly writeNow?: (buf: Uint8Array, len: number) => boolean | undefined;

  constructor(
    readonly info: ConnInfo,
    /** Node this endpoint lives on. */
    readonly node: string,
    readonly pipe: MemPipe,
    private readonly net: MemoryNetwork,
  ) {
    if (net.writeNow) {
      // As a kernel that takes all: the copy travels like written bytes but is not counted as buffered.
      this.writeNow = (buf, len) => {
        if (this.closed || this.finQueued) return undefined;
        if (len === 0) return true;
        const copy = buf.slice(0, len);
        this.taken.add(copy);
        this.outbox.push(copy);
        this.kick();
        return true;
      };
    }
  }

  write(data: Uint8Array): boolean {
    if (this.closed || this.finQueued) return false;
    if (data.length > 0) {
      this.outbox.push(data);
      this.outBytes += data.length;
      this.kick();
    }
    if (this.outBytes < this.net.highWaterMark) return true;
    this.needDrain = true;
    return false;
  }

  bufferedAmount(): number {
    return this.outBytes;
  }

  close(): void {
    if (this.closed || this.finQueued) return;
    this.finQueued = true;
    this.kick();
  }

  /** Reset now (not part of the contract): our side closes without error, the peer sees a reset. */
  destroy(err?: Error): void {
    this.net.reset(this.pipe, this, err);
  }

  kick(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    schedule(this.deliverTask, this.net.latencyMs);
  }

  private deliver(): void {
    if (this.closed) return;
    const peer = this.peer;
    const stalled = this.net.isPartitioned(this.node, peer.node);
    if (!stalled) {
      while (this.outHead < this.outbox.length) {
        const chunk = this.outbox[this.outHead];
        this.outbox[this.outHead++] = EMPTY;
        if (!this.taken.has(chunk)) this.outBytes -= chunk.length;
        if (!peer.closed) {
          try {
            peer.handler.onData(chunk);
          } catch (e) {
            // a bug in the receiving handler: reset the connection, that side sees the error
            this.net.reset(this.pipe, peer, e instanceof Error ? e : new Error(String(e)));
            return;
          }
        }
        if (this.closed) return; // the peer's handler dropped us
      }
      this.outbox.length = 0;
      this.outHead = 0;
      if (this.needDrain && !this.finQueued) {
        this.needDrain = false;
        this.handler.onDrain();
      }
    }
    if (this.finQueued) {
      // Our side is done as soon as it asked; the peer sees EOF once our bytes reached it.
      this.end(undefined);
      if (!stalled) peer.end(undefined);
    }
  }

  /** The connection is over for this side: report once, forget queued bytes unless a FIN still has to travel. */
  end(err: Error | undefined, hard = err !== undefined): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.finQueued || hard) {
      this.finQueued = false;
      this.outbox.length = 0;
      this.outHead = 0;
      this.outBytes = 0;
    }
    this.net.forget(this.pipe);
    this.handler.onClose(err);
  }

  /** After a heal: our FIN (and bytes) may still have to reach the peer. */
  resume(): void {
    if (this.outBytes > 0 || this.finQueued) {
      if (this.closed && this.finQueued && !this.peer.closed) {
        // we already reported our close; deliver the leftovers and the FIN on our behalf
        const peer = this.peer;
        schedule(() => {
          while (this.outHead < this.outbox.length) {
            const chunk = this.outbox[this.outHead];
            this.outbox[this.outHead++] = EMPTY;
            if (!this.taken.has(chunk)) this.outBytes -= chunk.length;
            if (!peer.closed) peer.handler.onData(chunk);
          }
          this.outbox.length = 0;
          this.outHead = 0;
          peer.end(undefined);
        }, this.net.latencyMs);
      } else {
        this.kick();
      }
    }
  }
}

const EMPTY = new Uint8Array(0);

class MemPipe implements MemoryConnView {
  readonly a: MemEndpoint;
  readonly b: MemEndpoint;
  constructor(
    readonly id: number,
    readonly from: string,
    readonly to: string,
    readonly toPort: number,
    net: MemoryNetwork,
    fromPort: number,
    dialHost: string,
    listenHost: string,
  ) {
    this.a = new MemEndpoint(
      { kind: "memory", localHost: from, localPort: fromPort, remoteHost: dialHost, remotePort: toPort },
      from,
      this,
      net,
    );
    this.b = new MemEndpoint(
      { kind: "memory", localHost: listenHost, localPort: toPort, remoteHost: from, remotePort: fromPort },
      to,
      this,
      net,
    );
    this.a.peer = this.b;
    this.b.peer = this.a;
  }
}

interface MemListener {
  readonly node: string;
  readonly host: string;
  readonly port: number;
  readonly accept: AcceptFn;
}

export class MemoryNetwork {
  readonly latencyMs: number;
  readonly highWaterMark: number;
  readonly writeNow: boolean;
  private readonly listeners = new Map<number, MemListener[]>();
  private readonly pipes = new Set<MemPipe>();
  private readonly blocked = new Set<string>();
  private nextPort = 40000;
  private nextEphemeral = 50000;
  private nextId = 1;

  constructor(options: MemoryNetworkOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
    this.highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.writeNow = options.writeNow ?? false;
  }

  /** A Transport for the machine called `name`. */
  node(name: string): Transport {
    return {
      listen: (opts, accept) => this.listen(name, opts, accept),
      dial: (to, handlerFor) => this.dial(name, to, handlerFor),
    };
  }

  /** Stall traffic between two nodes (both directions) and refuse new dials between them. */
  partition(a: string, b: string): void {
    this.blocked.add(pairKey(a, b));
  }

  /** Cut `node` off from every other node that has a listener or connection. */
  isolate(node: string): void {
    for (const other of this.nodes()) if (other !== node) this.partition(node, other);
  }

  /** Heal one pair, every pair involving `a`, or (no arguments) everything; stalled bytes then flow. */
  heal(a?: string, b?: string): void {
    if (a === undefined) this.blocked.clear();
    else if (b !== undefined) this.blocked.delete(pairKey(a, b));
    else for (const other of this.nodes()) this.blocked.delete(pairKey(a, other));
    for (const p of [...this.pipes]) {
      p.a.resume();
      p.b.resume();
    }
  }

  isPartitioned(a: string, b: string): boolean {
    return a !== b && this.blocked.size > 0 && this.blocked.has(pairKey(a, b));
  }

  connections(): MemoryConnView[] {
    return [...this.pipes];
  }

  /** Reset matching connections abruptly: both ends get onClose(err) on the next tick; queued bytes are lost. */
  drop(pred: (c: MemoryConnView) => boolean = () => true): number {
    const victims = [...this.pipes].filter(pred);
    for (const p of victims) {
      this.pipes.delete(p);
      const err = () => new Error(`connection reset (simulated drop of ${p.from} -> ${p.to}:${p.toPort})`);
      schedule(() => {
        p.a.end(err());
        p.b.end(err());
      }, 0);
    }
    return victims.length;
  }

  /** @internal Reset one connection, initiated by `by`, which sees `err` (the peer always sees a reset). */
  reset(p: MemPipe, by: MemEndpoint, err: Error | undefined): void {
    this.pipes.delete(p);
    const reset = new Error(`connection reset by peer (${by.node})`);
    schedule(() => {
      by.end(err, true);
      by.peer.end(reset);
    }, 0);
  }

  dropBetween(a: string, b: string): number {
    return this.drop((c) => (c.from === a && c.to === b) || (c.from === b && c.to === a));
  }

  dropNode(name: string): number {
    return this.drop((c) => c.from === name || c.to === name);
  }

  /** @internal */
  forget(p: MemPipe): void {
    if (p.a.closed && p.b.closed) this.pipes.delete(p);
  }

  private nodes(): Set<string> {
    const s = new Set<string>();
    for (const ls of this.listeners.values()) for (const l of ls) s.add(l.node);
    for (const p of this.pipes) {
      s.add(p.from);
      s.add(p.to);
    }
    return s;
  }

  private listen(node: string, opts: ListenOptions, accept: AcceptFn): Promise<Listener> {
    let port = opts.port;
    if (port === 0 || port === -1) {
      while (this.listeners.has(this.nextPort)) this.nextPort++;
      port = this.nextPort++;
    }
    const same = this.listeners.get(port) ?? [];
    if (same.some((l) => l.node === node && (l.host === opts.host || WILDCARD.has(l.host) || WILDCARD.has(opts.host)))) {
      return Promise.reject(new Error(`listen ${opts.host}:${port} on ${node}: address already in use`));
    }
    const entry: MemListener = { node, host: opts.host, port, accept };
    same.push(entry);
    this.listeners.set(port, same);
    let open = true;
    return Promise.resolve({
      host: opts.host,
      port,
      close: () => {
        if (open) {
          open = false;
          const ls = this.listeners.get(port) ?? [];
          const rest = ls.filter((l) => l !== entry);
          if (rest.length > 0) this.listeners.set(port, rest);
          else this.listeners.delete(port);
        }
        return Promise.resolve();
      },
    });
  }

  private find(from: string, host: string, port: number): MemListener | undefined {
    const ls = this.listeners.get(port);
    if (ls === undefined) return undefined;
    // host names a node, or an address a listener bound, or loopback on the dialing node
    return ls.find((l) => l.node === host) ??
      ls.find((l) => l.host === host && !LOOPBACK.has(host) && !WILDCARD.has(host)) ??
      ls.find((l) => l.node === from && (LOOPBACK.has(host) || WILDCARD.has(host)) &&
        (LOOPBACK.has(l.host) || WILDCARD.has(l.host))) ??
      // a single-node test where everybody says 127.0.0.1
      (LOOPBACK.has(host) || WILDCARD.has(host)
        ? ls.find((l) => LOOPBACK.has(l.host) || WILDCARD.has(l.host) || l.host === host)
        : undefined);
  }

  private dial(
    from: string,
    to: { host: string; port: number },
    handlerFor: (conn: Duplex) => ConnHandler,
  ): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      schedule(() => {
        const l = this.find(from, to.host, to.port);
        if (l === undefined) {
          reject(new Error(`connect ECONNREFUSED ${to.host}:${to.port} (from ${from})`));
          return;
        }
        if (this.isPartitioned(from, l.node)) {
          reject(new Error(`connect ETIMEDOUT ${to.host}:${to.port} (from ${from}: partitioned from ${l.node})`));
          return;
        }
        const pipe = new MemPipe(
          this.nextId++,
          from,
          l.node,
          l.port,
          this,
          this.nextEphemeral++,
          to.host,
          l.host,
        );
        this.pipes.add(pipe);
        try {
          pipe.b.handler = l.accept(pipe.b);
        } catch (e) {
          this.pipes.delete(pipe);
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        try {
          pipe.a.handler = handlerFor(pipe.a);
        } catch (e) {
          pipe.a.close();
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        resolve(pipe.a);
      }, this.latencyMs);
    });
  }
}

/** Convenience: one shared default network for single-process tests. */
export function createMemoryTransport(options: MemoryNetworkOptions = {}): { network: MemoryNetwork; transport: Transport } {
  const network = new MemoryNetwork(options);
  return { network, transport: network.node("local") };
}
