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

/** A configured remote with its own `tls {}` (gateway.gateways[]): used to dial these addresses. */
export interface RemoteTls {
  what: string;
  cfg: TlsConfig;
  addresses: { host: string; port: number }[];
}

export function linkTransport(
  server: Server,
  transport: Transport,
  what: string,
  cfg: TlsConfig | undefined,
  kind: string,
  logger: Logger,
  remotes: RemoteTls[] = [],
): Transport {
  if (cfg === undefined && remotes.length === 0) return transport;
  const serverSide = cfg === undefined ? undefined : server.prepareTls(what, cfg, "server");
  const clientBase = cfg === undefined ? undefined : server.prepareTls(what, cfg, "client");
  // A remote's own block wins for its addresses; everything else dialed uses the layer's block (or is plain).
  const perAddress = new Map<string, TlsSettings>();
  for (const r of remotes) {
    const base = server.prepareTls(r.what, r.cfg, "client");
    if (base === undefined) continue;
    for (const a of r.addresses) perAddress.set(`${a.host}|${a.port}`, { ...base, serverName: a.host });
  }
  const byHost = new Map<string, TlsSettings>();
  const client = (host: string, port: number): TlsSettings | undefined => {
    const own = perAddress.get(`${host}|${port}`);
    if (own !== undefined) return own;
    if (clientBase === undefined) return undefined;
    let s = byHost.get(host);
    if (s === undefined) {
      s = { ...clientBase, serverName: host };
      byHost.set(host, s);
    }
    return s;
  };
  const timeoutMs = cfg?.timeout ?? remotes[0]?.cfg.timeout ?? 2000;
  return tlsFirst(transport, { server: serverSide, client, timeoutMs, logger, kind });
}
