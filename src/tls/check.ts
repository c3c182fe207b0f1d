/**
 * Every `tls {}` block of a configuration, read and checked without starting anything: `-t` fails on a missing
 * or unreadable certificate file, as nats-server's does, instead of reporting a configuration that cannot start.
 */
import type { ServerOptions } from "../config/schema.ts";
import type { TlsSettings } from "../transport/types.ts";
import { type ReadText, type TlsConfig, tlsSettingsFor } from "./config.ts";

/** The first problem, or undefined when every block's files read and parse. */
export function checkTlsFiles(o: ServerOptions, read: ReadText, prepare?: (s: TlsSettings) => void): string | undefined {
  const blocks: [string, TlsConfig | undefined, "server" | "client"][] = [
    ["tls", o.tls, "server"],
    ["cluster.tls", o.cluster?.tls, "server"],
    ["gateway.tls", o.gateway?.tls, "server"],
    ["leafnodes.tls", o.leafnodes?.tls, "server"],
    ["websocket.tls", o.websocket?.tls, "server"],
    ...(o.gateway?.gateways ?? []).map((g, i): [string, TlsConfig | undefined, "client"] => [`gateway.gateways[${i}].tls`, g.tls, "client"]),
    ...(o.leafnodes?.remotes ?? []).map((r, i): [string, TlsConfig | undefined, "client"] => [`leafnodes.remotes[${i}].tls`, r.tls, "client"]),
  ];
  for (const [what, cfg, role] of blocks) {
    if (cfg === undefined) continue;
    try {
      const s = tlsSettingsFor(cfg, role, read, what);
      prepare?.(s);
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      return m.startsWith(what) ? m : `${what}: ${m.replace(/^tls: /, "")}`;
    }
  }
  return undefined;
}
