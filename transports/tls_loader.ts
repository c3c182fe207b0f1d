/**
 * The TLS session code (node:tls, node:stream and node:crypto behind it) loads only when a configuration uses
 * TLS: an idle plain server does not carry it. `Transport.loadTls` awaits it (the server does before preparing
 * its first TLS settings); a TLS call before that is a bug and throws.
 */
import type * as TlsSessionModule from "./tls_session.ts";

let loaded: typeof TlsSessionModule | undefined;

export async function loadTls(): Promise<void> {
  loaded ??= await import("./tls_session.ts");
}

export function tlsModule(): typeof TlsSessionModule {
  if (loaded === undefined) throw new Error("bug: TLS used before Transport.loadTls()");
  return loaded;
}
