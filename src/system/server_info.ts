/**
 * The `server` block every system-account message carries (nats-server's ServerInfo): who sent it, with a
 * sequence number that grows by one per message this server publishes on the system account.
 */
import { VERSION } from "../server/server.ts";
import type { Server } from "../server/server.ts";

export interface ServerInfo {
  name: string;
  host: string;
  id: string;
  cluster?: string;
  domain?: string;
  ver: string;
  tags?: string[];
  seq: number;
  jetstream: boolean;
  time: string;
}

/** The cluster name as other servers know it: the gateway's name when gateways run, else the cluster's. */
export function clusterNameOf(s: Server): string | undefined {
  const gw = s.monitorSections.get("varz.gateway")?.() as { name?: string } | undefined;
  if (gw?.name !== undefined && gw.name !== "") return gw.name;
  const cl = s.monitorSections.get("varz.cluster")?.() as { name?: string } | undefined;
  return cl?.name !== undefined && cl.name !== "" ? cl.name : undefined;
}

export class ServerInfoStamp {
  #seq = 0;
  readonly #server: Server;
  readonly #now: () => Date;

  constructor(server: Server, now: () => Date = () => new Date()) {
    this.#server = server;
    this.#now = now;
  }

  /** A fresh block for the next message (its own sequence number), fields in nats-server's order; `at`: its time. */
  next(at?: Date): ServerInfo {
    const s = this.#server;
    const cluster = clusterNameOf(s);
    const domain = s.options.jetstream?.domain ?? "";
    const tags = s.options.server_tags ?? [];
    return {
      name: s.serverName,
      host: s.options.host,
      id: s.serverId,
      ...(cluster !== undefined ? { cluster } : {}),
      ...(domain !== "" ? { domain } : {}),
      ver: VERSION,
      ...(tags.length > 0 ? { tags } : {}),
      seq: ++this.#seq,
      jetstream: s.infoExtras.jetstream === true,
      time: (at ?? this.#now()).toISOString(),
    };
  }


}
