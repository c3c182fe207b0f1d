/**
 * An in-memory RaftTransport for tests, benchmarks and embedding several hosts in one process. Batches can
 * go through the binary codec, as they will over routes, and links can be cut to model partitions.
 */
import { decodeWireBatch, encodeWireBatch } from "./codec.ts";
import type { PeerId, RaftTransport, WireBatch } from "./types.ts";

export interface MemoryNetworkOptions {
  /** Encode and decode every batch (default true): exercises the codec and costs what a real link would. */
  readonly encode?: boolean;
  /** How delivery is deferred. Default: queueMicrotask. */
  readonly schedule?: (fn: () => void) => void;
}

export class MemoryRaftNetwork {
  #receivers = new Map<PeerId, (b: WireBatch) => void>();
  #cut = new Set<string>();
  #encode: boolean;
  #schedule: (fn: () => void) => void;
  bytes = 0;
  batches = 0;

  constructor(opts: MemoryNetworkOptions = {}) {
    this.#encode = opts.encode ?? true;
    this.#schedule = opts.schedule ?? queueMicrotask;
  }

  /** The transport for peer `id`; `receive` gets the batches addressed to it. */
  attach(id: PeerId, receive: (b: WireBatch) => void): RaftTransport {
    this.#receivers.set(id, receive);
    return { send: (b) => this.#send(b) };
  }

  detach(id: PeerId): void {
    this.#receivers.delete(id);
  }

  /** Drop traffic between a and b in both directions until `heal`. */
  cut(a: PeerId, b: PeerId): void {
    this.#cut.add(`${a}|${b}`).add(`${b}|${a}`);
  }

  heal(): void {
    this.#cut.clear();
  }

  #send(b: WireBatch): void {
    if (this.#cut.has(`${b.from}|${b.to}`)) return;
    this.batches++;
    let batch: WireBatch = b;
    if (this.#encode) {
      const bytes = encodeWireBatch(b);
      this.bytes += bytes.length;
      const decoded = decodeWireBatch(bytes);
      if (decoded instanceof Error) throw decoded;
      batch = decoded;
    }
    this.#schedule(() => this.#receivers.get(batch.to)?.(batch));
  }
}
