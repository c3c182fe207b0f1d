/**
 * Listener and peer addresses as nats-server shows them. Go's listener on "0.0.0.0" is dual-stack (a client that
 * resolves `localhost` to ::1 connects), and IPv4 peers of a dual-stack socket are reported as plain IPv4. Pure
 * functions for the runtime transports; the core never sees "::ffff:" addresses.
 */

/**
 * The hosts to try binding for a configured listen host, best first: the IPv4 wildcard binds the dual-stack
 * wildcard "::" (falling back to "0.0.0.0" where IPv6 is unavailable); "[::1]" loses its brackets.
 */
export function bindCandidates(host: string): string[] {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (h === "0.0.0.0" || h === "") return ["::", "0.0.0.0"];
  return [h];
}

/** "::ffff:127.0.0.1" -> "127.0.0.1" (an IPv4 peer on a dual-stack socket); other addresses unchanged. */
export function unmapIPv4(host: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host);
  return m ? m[1] : host;
}

/** Binds the first candidate host that works (the dual-stack wildcard may be missing); rethrows the last error. */
export function bindFirst<T>(hosts: string[], bind: (host: string) => T): T {
  let last: unknown;
  for (const h of hosts) {
    try {
      return bind(h);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}
