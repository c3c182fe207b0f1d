// Value conversions shared by the schema and the command line: sizes, Go-style durations, host:port.

/** Value sizes: a bare letter is decimal (1K = 1000), with B / iB it is binary (1KB = 1024), as nats-server. */
export const SIZE_RE = /^(-?\d+)(k|kb|ki|kib|m|mb|mi|mib|g|gb|gi|gib|t|tb|ti|tib)$/i;
const SIZE_EXP: Record<string, number> = { k: 1, m: 2, g: 3, t: 4 };

/** Convert a size literal like `1KB`, `256mb`, `1k` to a number of bytes; undefined if not a size literal. */
export function sizeLiteralToNumber(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  const suffix = m[2].toLowerCase();
  const base = suffix.length === 1 ? 1000 : 1024;
  const n = Number(m[1]) * base ** SIZE_EXP[suffix[0]];
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Bytes from a number or a size literal ("1MB", "64k", "512"); undefined when not a size. */
export function toBytes(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v !== "string") return undefined;
  const s = v.trim();
  if (/^-?\d+$/.test(s)) return toBytes(Number(s));
  return sizeLiteralToNumber(s);
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "\u00b5s": 1e-3, // micro sign
  "\u03bcs": 1e-3, // Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds from a Go duration string ("2s", "1h30m", "500ms", "1.5s", "0"); undefined if invalid. */
export function parseGoDuration(text: string): number | undefined {
  let s = text.trim();
  if (s === "") return undefined;
  let sign = 1;
  if (s[0] === "-" || s[0] === "+") {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]];
    at = re.lastIndex;
  }
  return at === 0 ? undefined : sign * total;
}

/** Milliseconds from a duration value: a Go duration string, or a number of seconds (nats-server's legacy form). */
export function toDurationMs(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? v * 1000 : undefined;
  if (typeof v === "string") {
    if (/^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v) * 1000;
    return parseGoDuration(v);
  }
  return undefined;
}

export interface HostPort {
  host?: string;
  port?: number;
}

export function isPort(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= -1 && n <= 65535;
}

/**
 * A listen value: a port number, "host:port", ":port", "[v6]:port", or "host" (no port). Also accepts
 * URLs like "nats://host:port" (as --cluster does). Undefined when malformed.
 */
export function parseListen(v: unknown): HostPort | undefined {
  if (typeof v === "number") return isPort(v) ? { port: v } : undefined;
  if (typeof v !== "string") return undefined;
  let s = v.trim();
  const scheme = schemeLength(s);
  if (scheme > 0) {
    s = s.slice(scheme);
    const at = s.lastIndexOf("@");
    if (at >= 0) s = s.slice(at + 1);
    s = s.replace(/\/.*$/, "");
  }
  if (s === "") return undefined;
  if (isInteger(s)) {
    const port = Number(s);
    return isPort(port) ? { port } : undefined;
  }
  let host: string;
  let portText: string | undefined;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) return undefined;
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return undefined;
    portText = rest === "" ? undefined : rest.slice(1);
  } else {
    const colon = s.lastIndexOf(":");
    if (colon >= 0 && s.indexOf(":") !== colon) {
      // Bare IPv6 address without brackets and without port.
      return { host: s };
    }
    host = colon >= 0 ? s.slice(0, colon) : s;
    portText = colon >= 0 ? s.slice(colon + 1) : undefined;
  }
  if (portText === undefined) return host === "" ? undefined : { host };
  if (!isInteger(portText)) return undefined;
  const port = Number(portText);
  if (!isPort(port)) return undefined;
  return host === "" ? { port } : { host, port };
}

/** user/password embedded in a URL ("nats://u:p@h:4248"), as nats-server takes them from --cluster. */
export function urlCredentials(url: string): { user?: string; password?: string } {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(url.trim());
  if (!m) return {};
  const [user, ...rest] = m[1].split(":");
  const out: { user?: string; password?: string } = {};
  if (user !== "") out.user = safeDecode(user);
  if (rest.length > 0) out.password = safeDecode(rest.join(":"));
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The length of a leading `scheme://` (`[a-z][a-z0-9+.-]*://`, any case), 0 when there is none. */
export function schemeLength(s: string): number {
  const first = s.charCodeAt(0) | 32;
  if (!(first >= 97 && first <= 122)) return 0;
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const l = c | 32;
    if ((l >= 97 && l <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 46 || c === 45) continue;
    return c === 58 && s.charCodeAt(i + 1) === 47 && s.charCodeAt(i + 2) === 47 ? i + 3 : 0;
  }
  return 0;
}

/**
 * `-?[0-9]+`, scanned by hand: the config path a plain start runs uses no regular expression (on Deno the first one
 * compiled pages in V8's regex compiler for the life of the process).
 */
export function isInteger(s: string): boolean {
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  if (i >= s.length) return false;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
