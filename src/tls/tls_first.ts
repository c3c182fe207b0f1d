/**
 * Routes and gateways do TLS before anything else (nats-server 2.9: the accepting side starts the server
 * handshake at once, the soliciting side the client handshake; INFO and CONNECT travel inside). This wraps a
 * transport so that every connection it accepts or dials is upgraded before the core sees a byte of cleartext:
 * what the core writes meanwhile waits inside the TLS session. A handshake that fails or outlasts the timeout
 * closes the connection; nothing is ever exchanged in the clear.
 */
import type { Logger } from "../log/logger.ts";
import type { ConnHandler, Duplex, TlsSettings, Transport } from "../transport/types.ts";
import { upgradeToTls } from "./upgrade.ts";

export interface TlsFirstOptions {
  /** Our side of accepted connections. */
  server: TlsSettings;
  /** Our side of dialed connections, for the host dialed (the name its certificate must carry). */
  client: (host: string) => TlsSettings;
  timeoutMs: number;
  logger: Logger;
  /** "route", "gateway": for the log lines, as nats-server words them. */
  kind: string;
}

function start(d: Duplex, settings: TlsSettings, o: TlsFirstOptions, side: "server" | "client"): void {
  const who = `${d.info.remoteHost}:${d.info.remotePort}`;
  o.logger.debug(`${who} - Starting TLS ${o.kind} ${side} handshake`);
  upgradeToTls(d, settings, o.timeoutMs, {
    onSecure: () => {},
    onFailure: (reason) => {
      o.logger.error(`${who} - TLS ${o.kind} handshake error: ${reason}`);
      d.close();
    },
  });
}

export function tlsFirst(inner: Transport, o: TlsFirstOptions): Transport {
  return {
    listen: (lo, accept) =>
      inner.listen(lo, (d): ConnHandler => {
        start(d, o.server, o, "server");
        return accept(d);
      }),
    dial: (to, handlerFor) =>
      inner.dial(to, (d) => {
        start(d, o.client(to.host), o, "client");
        return handlerFor(d);
      }),
    prepareTls: inner.prepareTls,
  };
}
