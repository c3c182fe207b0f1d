/**
 * The transport a route or gateway layer uses: the server's own, wrapped so that every connection does TLS first
 * when its block (`cluster { tls {} }`, `gateway { tls {} }`) asks for it. Settings are read and checked here, at
 * start: a bad file stops the server.
 */
import type { Logger } from "../log/logger.ts";
import type { Server } from "../server/server.ts";
import type { TlsSettings, Transport } from "../transport/types.ts";
import type { TlsConfig } from "./config.ts";
import { tlsFirst } from "./tls_first.ts";

export function linkTransport(
  server: Server,
  transport: Transport,
  what: string,
  cfg: TlsConfig | undefined,
  kind: string,
  logger: Logger,
): Transport {
  if (cfg === undefined) return transport;
  const serverSide = server.prepareTls(what, cfg, "server");
  const clientBase = server.prepareTls(what, cfg, "client");
  if (serverSide === undefined || clientBase === undefined) throw new Error(`${what}: TLS settings missing`);
  const byHost = new Map<string, TlsSettings>();
  const client = (host: string): TlsSettings => {
    let s = byHost.get(host);
    if (s === undefined) {
      s = { ...clientBase, serverName: host };
      byHost.set(host, s);
    }
    return s;
  };
  return tlsFirst(transport, { server: serverSide, client, timeoutMs: cfg.timeout, logger, kind });
}
