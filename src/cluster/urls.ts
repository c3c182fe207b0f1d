/** Route URLs as nats-server accepts them: nats-route://[user:pass@]host:port, nats://..., or host:port. */

export interface RouteUrl {
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** The URL as configured (for /varz and logs). */
  text: string;
}

export const DEFAULT_ROUTE_PORT = 6222;

export function parseRouteUrl(text: string): RouteUrl | undefined {
  const raw = text.trim();
  const withScheme = raw.includes("://") ? raw : `nats-route://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return undefined;
  }
  let host = u.hostname;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "") return undefined;
  const port = u.port === "" ? DEFAULT_ROUTE_PORT : Number(u.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  const out: RouteUrl = { host, port, text: raw };
  if (u.username !== "") out.user = decodeURIComponent(u.username);
  if (u.password !== "") out.password = decodeURIComponent(u.password);
  return out;
}

/** "host:port" with IPv6 brackets, the form connect_urls and route keys use. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A wildcard bind address is reached through loopback (the fallback when no address of the host is known). */
export function reachableHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}
