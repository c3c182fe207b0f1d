/**
 * A smaller kernel receive buffer for a Bun connection that a fast sender keeps full, when the round trip is short.
 *
 * Why: Bun reads up to 512 KiB at once and hands every read over in a fresh buffer; a sender that outruns the
 * server keeps Linux's autotuned receive buffer (up to 6 MB) full, so every read is 512 KiB of new garbage
 * (fanout-16: 1,892 of 2,126 output batches came from such reads, each parsed whole, and 30–70 MB of dead read
 * buffers stood in RSS between collections). With the buffer bounded (`SO_RCVBUF`, which the kernel doubles for its
 * bookkeeping) the reads are a few hundred KiB, the sender waits on TCP's window instead, and the memory a fast
 * publisher can make the server allocate per read is bounded by configuration, not by its speed (in-process,
 * natsbench and server sharing a core budget, 3 interleaved runs: fanout-16 mean RSS 91–96 → 81–86 MB at 192 KiB,
 * pubsub-1k 147–155 → 80–87 MB, msgs/s and CPU per message not worse).
 *
 * Only where the window does not limit the rate: TCP moves at most one window per round trip, so this applies only
 * when the connection's receive-side RTT estimate (`TCP_INFO`) is under `MAX_RTT_US`: 384 KiB per 500 µs is ~780 MB/s, more than
 * one event loop parses. A connection over a longer path (a WAN route, gateway, leafnode or client) keeps the
 * kernel's autotuning. Decided once per connection, on its first large reads (an idle server never loads bun:ffi);
 * Linux only and best effort: where libc or `TCP_INFO` is not there, nothing changes.
 *
 * Off by default (`PETREL_SO_RCVBUF` bytes turns it on; 196608 measured best). With the servers at full speed
 * (the bench's servers and natsbench at autogroup nice -15, 2 rounds) it gave no RSS back (the RSS at the end of a
 * run is bimodal, 94–100 or 227–243 MB on cluster-pubsub-1k's subscriber node either way) and cost
 * cluster-pubsub-1k 14 % (485/455k → 419/377k msgs/s): the window must cover what arrives while the event loop
 * parses the previous read, not only the round trip. It stays for small hosts that want a fast sender's input
 * bounded (and its reads small) more than they want the last 14 %.
 */

/** A read this large means the sender is ahead of us (the kernel had this much waiting). */
export const LARGE_READ = 64 * 1024;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
/**
 * `struct tcp_info`: `tcpi_rcv_rtt` (µs), the receiving side's own estimate of the round trip (what the kernel's
 * receive-buffer autotuning uses), is the u32 at this offset on Linux. `tcpi_rtt` (offset 68) is measured on what
 * we send and a publisher's server sends little: 5–6 ms on loopback under load (delayed ACKs), against 38 µs.
 */
const TCPI_RCV_RTT_OFFSET = 92;
const TCP_INFO_SIZE = 104;
/** Above this round trip the window would limit the rate: leave the kernel's autotuning alone. */
export const MAX_RTT_US = 500;
/** Off unless asked for (see the module comment: it cost cluster-pubsub-1k 14 % at full speed). */
const DEFAULT_RCVBUF = 0;

/** getsockopt / setsockopt on a file descriptor; undefined where they cannot be reached. */
export interface SockOpts {
  /** The smoothed RTT in µs, undefined when it cannot be read. */
  rttUs(fd: number): number | undefined;
  /** true when the kernel took the size. */
  setRcvBuf(fd: number, bytes: number): boolean;
}

/** Should a connection with this RTT get a bounded receive buffer? (pure; the policy in one place) */
export function boundsWindow(rttUs: number | undefined): boolean {
  return rttUs !== undefined && rttUs > 0 && rttUs <= MAX_RTT_US;
}

function requestedBytes(): number {
  const raw = typeof Bun === "undefined" ? undefined : Bun.env.PETREL_SO_RCVBUF;
  const n = raw === undefined || raw === "" ? DEFAULT_RCVBUF : Number(raw);
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`PETREL_SO_RCVBUF must be a whole number of bytes (0: off), got '${raw}'`);
  return n;
}

/** Read when the module loads, so that a bad value stops start-up (no `Bun` on Deno: off there). */
const bytes = typeof Bun === "undefined" ? 0 : requestedBytes();

let opts: SockOpts | undefined | null = null; // null: not loaded yet; undefined: not available
let loading: Promise<void> | undefined;

async function load(): Promise<void> {
  try {
    const { dlopen, ptr } = await import("bun:ffi");
    const lib = dlopen("libc.so.6", {
      getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
      setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
    });
    const info = new Uint8Array(TCP_INFO_SIZE);
    const infoView = new DataView(info.buffer);
    const len = new Uint32Array(1);
    const val = new Int32Array(1);
    opts = {
      rttUs(fd) {
        len[0] = TCP_INFO_SIZE;
        if (lib.symbols.getsockopt(fd, IPPROTO_TCP, TCP_INFO, ptr(info), ptr(len)) !== 0) return undefined;
        if (len[0] < TCPI_RCV_RTT_OFFSET + 4) return undefined;
        return infoView.getUint32(TCPI_RCV_RTT_OFFSET, true);
      },
      setRcvBuf(fd, n) {
        val[0] = n;
        return lib.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, ptr(val), 4) === 0;
      },
    };
  } catch {
    opts = undefined; // no libc or no FFI: the kernel's autotuning stays
  }
}

/** How many large reads a connection may wait for a receive-side RTT estimate before it is left alone. */
const MAX_TRIES = 8;

/** Where a connection gets libc's socket options: `current()` is null until `load()` has settled. */
export interface SockOptsSource {
  current(): SockOpts | undefined | null;
  load(): Promise<void>;
}

const shared: SockOptsSource = {
  current: () => opts,
  load: () => (loading ??= load()),
};

/** One connection's decision: made on its large reads, once the kernel has an RTT estimate. */
export class ReceiveWindow {
  #tries = 0;
  #decided: boolean;
  #busy = false;
  readonly #fd: () => number | undefined;
  readonly #bytes: number;
  readonly #sock: SockOptsSource;

  /** `fd`: the socket's descriptor while it is open. `want`, `sock`: tests give their own. */
  constructor(fd: () => number | undefined, want = bytes, sock: SockOptsSource = shared) {
    this.#fd = fd;
    this.#bytes = want;
    this.#sock = sock;
    this.#decided = want === 0;
  }

  /** A read of LARGE_READ bytes or more came in. */
  onLargeRead(): void {
    if (this.#decided || this.#busy) return;
    if (this.#sock.current() === null) {
      this.#busy = true;
      void this.#sock.load().then(() => {
        this.#busy = false;
        this.#try();
      });
      return;
    }
    this.#try();
  }

  #try(): void {
    const o = this.#sock.current();
    const f = this.#fd();
    if (o === undefined || o === null || f === undefined || f < 0 || ++this.#tries > MAX_TRIES) {
      this.#decided = true;
      return;
    }
    const rtt = o.rttUs(f);
    if (rtt === undefined || rtt === 0) return; // no estimate yet: the next large read looks again
    this.#decided = true;
    if (boundsWindow(rtt)) o.setRcvBuf(f, this.#bytes);
  }
}
