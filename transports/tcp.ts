/** TCP for whichever runtime we are on. Both implementations are loaded; only the matching one is ever called. */
import type { Transport } from "../src/transport/types.ts";
import { createBunTcpTransport, type TcpOptions } from "./tcp_bun.ts";
import { createDenoTcpTransport } from "./tcp_deno.ts";

export type { TcpOptions } from "./tcp_bun.ts";

export function createTcpTransport(options: TcpOptions = {}): Transport {
  if (typeof Bun !== "undefined") return createBunTcpTransport(options);
  if (typeof Deno !== "undefined") return createDenoTcpTransport(options);
  throw new Error("TCP transport: unsupported runtime (need Deno or Bun)");
}

export const tcpTransport: Transport = createTcpTransport();
