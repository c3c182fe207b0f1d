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
  // By hand, not a regex: every accepted connection runs this, an idle server's first one included (the first
  // regex run keeps +1-2 MB of JIT code resident on Bun).
  if (host.length < 14 || host.slice(0, 7).toLowerCase() !== "::ffff:") return host;
  const v4 = host.slice(7);
  return isDottedQuad(v4) ? v4 : host;
}

/** Four dot-separated groups of 1-3 digits. */
function isDottedQuad(s: string): boolean {
  let groups = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0) return false;
      groups++;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      digits++;
    } else {
      return false;
    }
  }
  return groups === 4;
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

/** Is this a wildcard listen host (every interface)? */
export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "" || host === "[::]";
}

/**
 * Go's `IP.IsGlobalUnicast`: an address others can reach this host on - not unspecified, loopback, link-local,
 * multicast or the IPv4 broadcast address.
 */
export function isGlobalUnicast(ip: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    if (ip === "0.0.0.0" || ip === "255.255.255.255") return false;
    if (a === 127 || a >= 224 || (a === 169 && b === 254)) return false;
    return true;
  }
  if (!ip.includes(":")) return false;
  const h = ip.toLowerCase();
  if (h === "::" || h === "::1") return false;
  if (h.startsWith("ff")) return false; // multicast
  if (/^fe[89ab]/.test(h)) return false; // link-local fe80::/10
  return true;
}

/**
 * The hosts a server advertises to clients for its listener host, as nats-server does: for a wildcard host every
 * global unicast address of the machine (in interface order), else the host itself. Empty when a wildcard host
 * has no such address (the caller falls back to loopback).
 */
export function advertisedHosts(host: string, interfaceAddresses: readonly string[]): string[] {
  if (!isWildcardHost(host)) return [host];
  const out: string[] = [];
  for (const a of interfaceAddresses) if (isGlobalUnicast(a) && !out.includes(a)) out.push(a);
  return out;
}
