/** Value formats nats-server's monitoring JSON uses (Go durations and RFC 3339 times). */
import { isoUtc } from "../runtime/utc_text.ts";

/** Go's time.Duration.String(): "1h2m3s", "1.5s", "250ms", "0s". */
export function goDuration(ms: number): string {
  if (ms <= 0) return "0s";
  if (ms < 1) return `${Math.round(ms * 1000)}\u00b5s`;
  if (ms < 1000) return `${trim(ms)}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  let out = "";
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  out += `${trim(s)}s`;
  return out;
}

/** nats-server's uptime format: "1d2h3m4s" (days included, whole seconds). */
export function uptime(ms: number): string {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  let out = "";
  if (d > 0) out += `${d}d`;
  if (d > 0 || h > 0) out += `${h}h`;
  if (d > 0 || h > 0 || m > 0) out += `${m}m`;
  return `${out}${s}s`;
}

function trim(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

/** Milliseconds to Go's JSON encoding of time.Duration (integer nanoseconds). */
export function nanos(ms: number): number {
  return Math.round(ms * 1e6);
}

/** What Date writes as its ISO string, written without Date's formatting code (src/runtime/utc_text.ts: ~1.7 MiB on Deno). */
export function rfc3339(d: Date): string {
  return isoUtc(d.getTime());
}
