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
  /** Our side of accepted connections (absent: the listener is plain). */
  server?: TlsSettings;
  /** Our side of a dialed connection, for the host dialed (the name its certificate must carry); absent: plain. */
  client: (host: string, port: number) => TlsSettings | undefined;
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
        if (o.server !== undefined) start(d, o.server, o, "server");
        return accept(d);
      }),
    dial: (to, handlerFor) =>
      inner.dial(to, (d) => {
        const s = o.client(to.host, to.port);
        if (s !== undefined) start(d, s, o, "client");
        return handlerFor(d);
      }),
    prepareTls: inner.prepareTls,
    loadTls: inner.loadTls,
  };
}
