/**
 * One WebSocket client as the core sees it: a Duplex whose writes become binary messages and whose incoming
 * binary messages are fed to the core's ConnHandler. The runtime files (transports/ws_bun.ts, ws_deno.ts)
 * reduce their native server sockets to `NativeSocket` and forward events here, so the rules (text frames,
 * oversized messages, slow consumers, drain) live in one place.
 */
import type { AcceptFn, ConnHandler, ConnInfo, Duplex } from "../transport/types.ts";
import type { Timer } from "../runtime/clock.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

/** The runtime's server-side socket, reduced to what the connection needs. */
export interface NativeSocket {
  /** Queue one binary message. */
  send(data: Uint8Array): void;
  /** Bytes queued but not yet handed to the OS. */
  bufferedAmount(): number;
  /** Graceful close: a close frame after what is queued. */
  close(code: number, reason: string): void;
  /** Drop the connection now (peer not reading). */
  terminate(): void;
  /** True when the runtime reports drain itself; otherwise the connection polls bufferedAmount. */
  readonly drainEvents: boolean;
}

export interface WsLimits {
  max_message: number;
  max_pending: number;
}

/** RFC 6455 close codes used here. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_UNSUPPORTED_DATA = 1003;
export const CLOSE_POLICY = 1008;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_INTERNAL = 1011;

/** Above this many queued bytes write() says "wait for onDrain". */
const HIGH_WATER = 256 * 1024;
const DRAIN_POLL_MS = 2;

export class WsConnection implements Duplex {
  readonly info: ConnInfo;
  #socket: NativeSocket;
  #limits: WsLimits;
  #handler: ConnHandler | undefined;
  #closed = false;
  #waitingDrain = false;
  /** A light timer: on Deno a runtime setTimeout loads Node's timer layer for good (light_timers.ts). */
  #pollTimer: Timer | undefined;

  constructor(info: ConnInfo, socket: NativeSocket, limits: WsLimits) {
    this.info = info;
    this.#socket = socket;
    this.#limits = limits;
  }

  /** Hand the connection to the core; call once the socket is open. */
  open(accept: AcceptFn): void {
    this.#handler = accept(this);
  }

  // ---- events from the runtime ----

  message(data: Uint8Array | string): void {
    if (this.#closed) return;
    if (typeof data === "string") {
      this.#fail(CLOSE_UNSUPPORTED_DATA, "text frames are not supported: NATS over WebSocket uses binary frames");
      return;
    }
    if (data.byteLength > this.#limits.max_message) {
      this.#fail(CLOSE_TOO_BIG, `message too big: ${data.byteLength} bytes, limit ${this.#limits.max_message}`);
      return;
    }
    try {
      this.#handler?.onData(data);
    } catch (e) {
      // A bug in the core must cost one connection, not the process.
      this.#fail(CLOSE_INTERNAL, `internal error: ${e instanceof Error ? e.message : String(e)}`.slice(0, 120));
    }
  }

  drained(): void {
    if (this.#closed || !this.#waitingDrain) return;
    if (this.#socket.bufferedAmount() > 0) {
      // Partly drained: watch the rest so the core is told when everything is out.
      if (this.#pollTimer === undefined) this.#poll();
      return;
    }
    this.#waitingDrain = false;
    this.#handler?.onDrain();
  }

  closed(code: number, reason: string): void {
    if (this.#closed) return;
    this.#finish(code === CLOSE_NORMAL || code === 1001 || code === 1005 ? undefined : wsError(code, reason), () => {});
  }

  // ---- Duplex ----

  write(data: Uint8Array): boolean {
    if (this.#closed) return false;
    this.#socket.send(data);
    const queued = this.#socket.bufferedAmount();
    if (queued > this.#limits.max_pending) {
      // A client that stopped reading: drop it rather than grow without bound.
      this.#finish(
        new Error(`slow consumer: ${queued} bytes pending on WebSocket client`),
        () => this.#socket.terminate(),
      );
      return false;
    }
    if (queued <= HIGH_WATER) return true;
    if (!this.#waitingDrain) {
      this.#waitingDrain = true;
      if (!this.#socket.drainEvents) this.#poll();
    }
    return false;
  }

  bufferedAmount(): number {
    return this.#closed ? 0 : this.#socket.bufferedAmount();
  }

  close(): void {
    if (this.#closed) return;
    // A close frame would queue behind a backlog the peer is not reading (slow consumer): drop instead.
    const stuck = this.#socket.bufferedAmount() > HIGH_WATER;
    this.#finish(undefined, () => stuck ? this.#socket.terminate() : this.#socket.close(CLOSE_NORMAL, ""));
  }

  // ---- internals ----

  #fail(code: number, reason: string): void {
    this.#finish(wsError(code, reason), () => this.#socket.close(code, reason));
  }

  /** Mark closed first: runtimes may report the close synchronously from inside `shut`. */
  #finish(err: Error | undefined, shut: () => void): void {
    this.#closed = true;
    this.#stopPoll();
    shut();
    this.#handler?.onClose(err);
  }

  #poll(): void {
    this.#pollTimer = lightTimeout(DRAIN_POLL_MS, () => {
      this.#pollTimer = undefined;
      if (this.#closed || !this.#waitingDrain) return;
      if (this.#socket.bufferedAmount() === 0) this.drained();
      else this.#poll();
    });
  }

  #stopPoll(): void {
    this.#pollTimer?.cancel();
    this.#pollTimer = undefined;
  }
}

function wsError(code: number, reason: string): Error {
  return new Error(`websocket closed with ${code}${reason ? `: ${reason}` : ""}`);
}
