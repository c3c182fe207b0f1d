/**
 * UTC times as text, computed from the epoch milliseconds with integer arithmetic: RFC 3339 as `toISOString`
 * writes it (the monitoring JSON's `now`, `start`, ...) and the HTTP date as `toUTCString` writes it (http_lite's
 * `date:` header), the same bytes (test/runtime/utc_text).
 *
 * Why not the Date methods: on Deno the first `toISOString` / `toUTCString` pages in V8's date formatting code,
 * +1.6-1.9 MiB RSS for the life of the process (a bare script, text pages), paid by a server at its first
 * monitoring poll; nothing else a plain server runs formats a date. On Bun it costs ~0.2 MiB, while this code,
 * run ~5 times per poll, reaches Bun's baseline JIT within 10 polls instead of ~30 (+2.3 MiB at 10 polls): the
 * Bun adapter calls `useRuntimeDateText` (clock.ts) and Date's own methods are used there.
 */
import { runtimeDateText } from "./clock.ts";

const MS_PER_DAY = 86_400_000;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const WEEKDAYS = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // day 0 (1970-01-01) was a Thursday

const d2 = (n: number): string => (n < 10 ? "0" + n : String(n));
const d3 = (n: number): string => (n < 10 ? "00" + n : n < 100 ? "0" + n : String(n));
const d4 = (n: number): string => (n < 10 ? "000" + n : n < 100 ? "00" + n : n < 1000 ? "0" + n : String(n));

/** The proleptic Gregorian date of a day counted from 1970-01-01 (negative before it), in 400-year eras. */
function civil(days: number): { y: number; m: number; d: number } {
  const z = days + 719_468; // days since 0000-03-01
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097; // [0, 146096]
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100)); // [0, 365], from March 1st
  const mp = Math.floor((5 * doy + 2) / 153); // [0, 11], March = 0
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d };
}

interface Parts {
  days: number;
  y: number;
  m: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  ms: number;
}

function parts(t: number): Parts | undefined {
  if (!Number.isFinite(t)) return undefined;
  const ms0 = Math.trunc(t);
  const days = Math.floor(ms0 / MS_PER_DAY);
  let rest = ms0 - days * MS_PER_DAY;
  const { y, m, d } = civil(days);
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const mi = Math.floor(rest / 60_000);
  rest -= mi * 60_000;
  const s = Math.floor(rest / 1000);
  return { days, y, m, d, h, mi, s, ms: rest - s * 1000 };
}

/** `new Date(t).toISOString()`, e.g. "2026-12-07T02:58:54.560Z" (years 0-9999; others, and invalid times, by Date). */
export function isoUtc(t: number): string {
  return runtimeDateText ? new Date(t).toISOString() : computeIsoUtc(t);
}

/** isoUtc's arithmetic (whatever the runtime). */
export function computeIsoUtc(t: number): string {
  const p = parts(t);
  if (p === undefined || p.y < 0 || p.y > 9999) return new Date(t).toISOString();
  return `${d4(p.y)}-${d2(p.m)}-${d2(p.d)}T${d2(p.h)}:${d2(p.mi)}:${d2(p.s)}.${d3(p.ms)}Z`;
}

/** `new Date(t).toUTCString()`, e.g. "Mon, 07 Dec 2026 02:58:54 GMT" (years 1000-9999; others by Date). */
export function httpDate(t: number): string {
  return runtimeDateText ? new Date(t).toUTCString() : computeHttpDate(t);
}

/** httpDate's arithmetic (whatever the runtime). */
export function computeHttpDate(t: number): string {
  const p = parts(t);
  if (p === undefined || p.y < 1000 || p.y > 9999) return new Date(t).toUTCString();
  const wd = WEEKDAYS[((p.days % 7) + 7) % 7];
  return `${wd}, ${d2(p.d)} ${MONTHS[p.m - 1]} ${p.y} ${d2(p.h)}:${d2(p.mi)}:${d2(p.s)} GMT`;
}
