/**
 * The host's offset from UTC for log timestamps, when it is a fixed one, read from the zone file (TZif) the way
 * the C library finds it (`TZ`, else /etc/localtime). Why: on Bun, the first local-time `Date` getter loads ICU's
 * time-zone machinery, +3 MB of RSS for the life of the process, only to print log times; servers mostly run
 * on UTC or another zone without daylight saving. A zone with daylight-saving rules, an unreadable file or a
 * POSIX `TZ` string gives `undefined`, and the logger uses the runtime's local time as before.
 * A host on UTC is told by name first (`TZ`, or the zone /etc/localtime links to), without reading its file: on Bun
 * the mapping of the file is ~0.25 MB of the runtime's code kept resident for one number.
 */

const ZONEINFO = "/usr/share/zoneinfo";

/** Which zone file the C library would read for this `TZ`, or undefined for a POSIX rule that names no file. */
export function zoneFilePath(tz: string | undefined): string | undefined {
  if (tz === undefined) return "/etc/localtime";
  const name = tz.startsWith(":") ? tz.slice(1) : tz;
  if (name === "") return `${ZONEINFO}/UTC`;
  if (name.startsWith("/")) return name;
  // "EST5EDT,M3.2.0,M11.1.0" or "<+03>-3" are rules; a zone name (Europe/Paris, UTC, EST5EDT) is a file.
  if (name.includes(",") || name.includes("<") || name.includes("..")) return undefined;
  return `${ZONEINFO}/${name}`;
}

// Big-endian integers read by hand, and the footer's text built char by char: this runs at every start with log
// times on, and on Bun a DataView's getters bring ~0.4 MB of the runtime's code in for good, String.fromCharCode
// over a spread typed array ~1 MB (bench/RESULTS.md, "bunidle, 2026-12-07").
function int32At(b: Uint8Array, at: number): number {
  return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
}

function uint32At(b: Uint8Array, at: number): number {
  return int32At(b, at) >>> 0;
}

/**
 * The fixed UTC offset in minutes (east positive) that a TZif file gives for `nowSec` (Unix seconds), or
 * undefined when the zone observes daylight saving now or later, or the data is not a TZif file.
 */
export function fixedOffsetMinutes(tzif: Uint8Array, nowSec: number): number | undefined {
  const header = (at: number) => {
    if (at + 44 > tzif.length || uint32At(tzif, at) !== 0x545a6966) return undefined; // "TZif"
    const c = (i: number) => uint32At(tzif, at + 20 + 4 * i);
    return { version: tzif[at + 4], isut: c(0), isstd: c(1), leap: c(2), time: c(3), type: c(4), chars: c(5) };
  };
  const h1 = header(0);
  if (h1 === undefined) return undefined;
  const blockSize = (h: NonNullable<typeof h1>, timeSize: number) =>
    h.time * timeSize + h.time + h.type * 6 + h.chars + h.leap * (timeSize + 4) + h.isstd + h.isut;
  let h = h1;
  let at = 44;
  let timeSize = 4;
  let footer: string | undefined;
  if (h1.version >= 0x32) {
    // Version 2+: the 64-bit block follows the 32-bit one, then a POSIX rule for times after the last transition.
    const second = 44 + blockSize(h1, 4);
    const h2 = header(second);
    if (h2 === undefined) return undefined;
    h = h2;
    at = second + 44;
    timeSize = 8;
    const end = at + blockSize(h2, 8);
    if (end > tzif.length) return undefined;
    // "\n<rule>\n", ASCII (no decoder: this runs at every start and should touch as little as it can)
    if (tzif[end] === 10) {
      let stop = end + 1;
      while (stop < tzif.length && tzif[stop] !== 10) stop++;
      footer = "";
      for (let k = end + 1; k < stop; k++) footer += String.fromCharCode(tzif[k]);
    }
  }
  if (at + blockSize(h, timeSize) > tzif.length || h.type === 0) return undefined;
  // A rule with a daylight-saving part ("CET-1CEST,M3.5.0,M10.5.0/3") changes the offset: not fixed.
  if (footer !== undefined && (footer.includes(",") || namesDaylightZone(footer))) return undefined;
  const time = (i: number) => timeSize === 8 ? int32At(tzif, at + 8 * i) * 2 ** 32 + uint32At(tzif, at + 8 * i + 4) : int32At(tzif, at + 4 * i);
  const typesAt = at + h.time * timeSize;
  const infosAt = typesAt + h.time;
  let type = 0;
  if (h.time > 0) {
    // Only after the last transition is the offset settled (before it, the history matters; leave that to ICU).
    if (nowSec < time(h.time - 1)) return undefined;
    type = tzif[typesAt + h.time - 1];
    if (type >= h.type) return undefined;
  }
  const utoff = int32At(tzif, infosAt + 6 * type);
  const isDst = tzif[infosAt + 6 * type + 4] !== 0;
  if (isDst || utoff % 60 !== 0) return undefined;
  return utoff / 60;
}

/**
 * Does a POSIX TZ rule name a daylight-saving zone after its standard one ("EST5EDT": name, offset, name)? By hand,
 * not a regex: this runs at every start with log times on, and the first regex run is +1-2 MB of resident JIT
 * code under Bun's JIT.
 */
export function namesDaylightZone(rule: string): boolean {
  const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
  const isOffset = (c: number) => (c >= 48 && c <= 57) || c === 58;
  /** The index after a zone name starting at i (`<...>` or letters), or -1 when there is none. */
  const name = (i: number): number => {
    if (rule.charCodeAt(i) === 60) {
      const close = rule.indexOf(">", i + 1);
      return close < 0 ? -1 : close + 1;
    }
    let j = i;
    while (j < rule.length && isLetter(rule.charCodeAt(j))) j++;
    return j > i ? j : -1;
  };
  let i = name(0);
  if (i < 0) return false;
  const sign = rule.charCodeAt(i);
  if (sign === 43 || sign === 45) i++;
  const offsetAt = i;
  while (i < rule.length && isOffset(rule.charCodeAt(i))) i++;
  return i > offsetAt && name(i) >= 0;
}

const d2 = (n: number): string => (n < 10 ? "0" + n : String(n));

/** `YYYY/MM/DD HH:MM:SS` from the fields. */
export function secondsText(y: number, mo: number, d: number, h: number, mi: number, s: number): string {
  return `${y}/${d2(mo)}/${d2(d)} ${d2(h)}:${d2(mi)}:${d2(s)}`;
}

/** `.uuuuuu`: the microseconds of a whole-millisecond time. */
export function microsText(ms: number): string {
  const us = String(ms * 1000);
  return "." + "000000".slice(us.length) + us;
}

// The text of the last second formatted: log lines come in bursts within a second, and a helper called per field
// of every line (~60 calls while starting) would be compiled by Bun's baseline JIT, whose code stays resident.
let lastSecond = NaN;
let lastText = "";

/** nats-server's log time, `2006/01/02 15:04:05.000000`, at a fixed offset from UTC (no time-zone lookup). */
export function formatTimeAtOffset(ms: number, offsetMinutes: number): string {
  const t = Math.floor(ms) + offsetMinutes * 60_000;
  const second = Math.floor(t / 1000);
  if (second !== lastSecond) {
    const d = new Date(second * 1000);
    lastText = secondsText(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds());
    lastSecond = second;
  }
  return lastText + microsText(t - second * 1000);
}

/**
 * Is this the name of a zone that is UTC itself (tzdata's `Etc/UTC` and its aliases, as a `TZ` value or the part of
 * a zone file's path after `zoneinfo/`)? Always offset 0, no daylight saving, so its file need not be read. `right/`
 * names (UTC with leap seconds) are not among them: those files are read as any other.
 */
export function isUtcZoneName(name: string): boolean {
  const bare = name.startsWith("posix/") ? name.slice(6) : name;
  const zone = bare.startsWith("Etc/") ? bare.slice(4) : bare;
  // A chain of ===, not a `switch`: on Bun a switch over strings (and lastIndexOf below) at every start kept
  // ~0.25 MB more of the runtime's code resident than the comparisons (bench/RESULTS.md, `bunidle5`).
  return zone === "UTC" || zone === "UCT" || zone === "Universal" || zone === "Zulu" || zone === "GMT" || zone === "GMT0" ||
    zone === "GMT+0" || zone === "GMT-0" || zone === "Greenwich";
}

/**
 * The zone's name in a zone file's path (`/usr/share/zoneinfo/Etc/UTC` gives `Etc/UTC`), or undefined outside one.
 * The first `/zoneinfo/`: a path with two names no UTC zone (`a/zoneinfo/b/zoneinfo/UTC` gives `b/zoneinfo/UTC`).
 */
export function zoneNameOfPath(path: string): string | undefined {
  const at = path.indexOf("/zoneinfo/");
  return at < 0 ? undefined : path.slice(at + 10);
}

/**
 * The offset log times are written at: fixed for the host's zone when its file says so, else undefined (the
 * logger then asks the runtime for local time). `realPath` (where a link chain ends, undefined when it cannot
 * tell) lets a host whose /etc/localtime links to a UTC zone skip the read; without it, or for any other target,
 * the file is read as before.
 */
export function logUtcOffset(
  tz: string | undefined,
  readBytes: (path: string) => Uint8Array | undefined,
  nowMs: number,
  realPath?: (path: string) => string | undefined,
): number | undefined {
  // TZ="" is UTC to the C library (zoneFilePath: zoneinfo/UTC), as is a TZ that names a UTC zone.
  if (tz !== undefined && (tz === "" || tz === ":" || isUtcZoneName(tz.startsWith(":") ? tz.slice(1) : tz))) return 0;
  const path = zoneFilePath(tz);
  if (path === undefined) return undefined;
  if (tz === undefined && realPath !== undefined) {
    let target: string | undefined;
    try {
      target = realPath(path);
    } catch {
      target = undefined;
    }
    const name = target === undefined ? undefined : zoneNameOfPath(target);
    if (name !== undefined && isUtcZoneName(name)) return 0;
  }
  let data: Uint8Array | undefined;
  try {
    data = readBytes(path);
  } catch {
    return undefined;
  }
  return data === undefined ? undefined : fixedOffsetMinutes(data, Math.floor(nowMs / 1000));
}
