import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fixedOffsetMinutes, formatTimeAtOffset, isUtcZoneName, logUtcOffset, namesDaylightZone, zoneFilePath, zoneNameOfPath } from "../../src/log/local_offset.ts";
import { createLogger, formatTime } from "../../src/log/logger.ts";

const zone = (name: string) => new Uint8Array(readFileSync(`/usr/share/zoneinfo/${name}`));
const now = Math.floor(Date.UTC(2026, 11, 6, 12) / 1000);

describe("log times at the host's fixed UTC offset (no time-zone lookup by the runtime)", () => {
  it("finds the zone file as the C library does", () => {
    assert.equal(zoneFilePath(undefined), "/etc/localtime");
    assert.equal(zoneFilePath(""), "/usr/share/zoneinfo/UTC");
    assert.equal(zoneFilePath("Asia/Tokyo"), "/usr/share/zoneinfo/Asia/Tokyo");
    assert.equal(zoneFilePath(":Europe/Berlin"), "/usr/share/zoneinfo/Europe/Berlin");
    assert.equal(zoneFilePath("/etc/zone"), "/etc/zone");
    assert.equal(zoneFilePath("EST5EDT,M3.2.0,M11.1.0"), undefined, "a POSIX rule is no file");
    assert.equal(zoneFilePath("<+03>-3"), undefined);
  });

  it("reads fixed offsets from TZif files, and refuses zones with daylight saving", () => {
    assert.equal(fixedOffsetMinutes(zone("UTC"), now), 0);
    assert.equal(fixedOffsetMinutes(zone("Asia/Tokyo"), now), 540);
    assert.equal(fixedOffsetMinutes(zone("Asia/Kolkata"), now), 330);
    assert.equal(fixedOffsetMinutes(zone("Etc/GMT+3"), now), -180);
    assert.equal(fixedOffsetMinutes(zone("Europe/Berlin"), now), undefined);
    assert.equal(fixedOffsetMinutes(zone("America/New_York"), now), undefined);
    // Before Japan's last transition (1951) the history matters: left to the runtime.
    assert.equal(fixedOffsetMinutes(zone("Asia/Tokyo"), Math.floor(Date.UTC(1950, 0, 1) / 1000)), undefined);
    assert.equal(fixedOffsetMinutes(new TextEncoder().encode("not a zone file at all, not at all"), now), undefined);
    assert.equal(fixedOffsetMinutes(zone("Asia/Tokyo").subarray(0, 60), now), undefined, "truncated");
  });

  it("tells a POSIX rule that names a daylight-saving zone (STD offset DST) from a fixed one", () => {
    for (const rule of ["EST5EDT", "<+03>-3<+04>", "AAA-2:30BBB", "CET-1CEST", "X+1Y"]) assert.equal(namesDaylightZone(rule), true, rule);
    for (const rule of ["UTC0", "<+03>-3", "JST-9", "EST5", "", "5EDT", "EST", "<+03-3<+04>", "EST5<EDT", "EST+EDT"]) {
      assert.equal(namesDaylightZone(rule), false, rule);
    }
  });

  it("gives the offset for a TZ value, undefined when unknown", () => {
    const read = (p: string) => {
      try {
        return new Uint8Array(readFileSync(p));
      } catch {
        return undefined;
      }
    };
    assert.equal(logUtcOffset("Asia/Kolkata", read, now * 1000), 330);
    assert.equal(logUtcOffset("No/Such_Zone", read, now * 1000), undefined);
    assert.equal(logUtcOffset("JST-9", read, now * 1000), undefined);
    assert.equal(logUtcOffset("Asia/Tokyo", () => {
      throw new Error("EACCES");
    }, now * 1000), undefined);
  });

  it("knows a UTC host by its zone's name, reading no file: TZ, or the zone /etc/localtime links to", () => {
    const reads: string[] = [];
    const read = (p: string) => {
      reads.push(p);
      try {
        return new Uint8Array(readFileSync(p));
      } catch {
        return undefined;
      }
    };
    const linkTo = (target: string | undefined) => (p: string) => (p === "/etc/localtime" ? target : undefined);
    for (const tz of ["UTC", ":UTC", "Etc/UTC", "Zulu", "Etc/Universal", "GMT", "Etc/GMT-0", "posix/UTC", "", ":"]) {
      assert.equal(logUtcOffset(tz, read, now * 1000, linkTo("/usr/share/zoneinfo/Asia/Tokyo")), 0, tz);
    }
    for (const target of ["/usr/share/zoneinfo/Etc/UTC", "/usr/share/zoneinfo/UCT", "/usr/share/zoneinfo/Etc/Zulu", "/usr/lib/zoneinfo/posix/Etc/GMT"]) {
      assert.equal(logUtcOffset(undefined, read, now * 1000, linkTo(target)), 0, target);
    }
    assert.deepEqual(reads, [], "no zone file read for any of them");
    // Any other link, none, a zone with leap seconds (right/), or a lookalike name: the file decides, as before.
    assert.equal(logUtcOffset(undefined, () => zone("Asia/Tokyo"), now * 1000, linkTo("/usr/share/zoneinfo/Asia/Tokyo")), 540);
    assert.equal(logUtcOffset(undefined, () => zone("Asia/Tokyo"), now * 1000, linkTo(undefined)), 540);
    assert.equal(logUtcOffset(undefined, () => zone("Asia/Tokyo"), now * 1000, linkTo("/etc/localtime")), 540, "a regular file");
    assert.equal(logUtcOffset(undefined, () => zone("Asia/Tokyo"), now * 1000, linkTo("/usr/share/zoneinfo/right/UTC")), 540);
    assert.equal(logUtcOffset(undefined, () => zone("Asia/Tokyo"), now * 1000, linkTo("/usr/share/zoneinfo/America/UTCish")), 540);
    assert.equal(logUtcOffset(undefined, () => zone("Asia/Tokyo"), now * 1000, linkTo("/opt/UTC")), 540, "not under a zoneinfo directory");
    assert.equal(logUtcOffset(undefined, () => zone("Asia/Tokyo"), now * 1000, linkTo("/a/zoneinfo/b/zoneinfo/UTC")), 540, "the name after the first zoneinfo/");
    assert.equal(logUtcOffset(undefined, () => zone("Asia/Tokyo"), now * 1000, () => {
      throw new Error("EACCES");
    }), 540, "a failing lookup reads the file");
    assert.equal(logUtcOffset("Asia/Tokyo", () => zone("Asia/Tokyo"), now * 1000, linkTo("/usr/share/zoneinfo/UTC")), 540, "TZ wins over the link");
    assert.equal(logUtcOffset("UTC0", () => undefined, now * 1000), undefined, "a POSIX rule is not a zone name");
    assert.equal(zoneNameOfPath("/usr/share/zoneinfo/Etc/UTC"), "Etc/UTC");
    assert.equal(zoneNameOfPath("/etc/localtime"), undefined);
    for (const name of ["utc", "UTC0", "Etc/UTC/x", "right/UTC", "EtcUTC", "posix/right/UTC", " UTC"]) assert.equal(isUtcZoneName(name), false, name);
    // Each name that is taken as UTC without its file is UTC in this host's zone files.
    for (const name of ["UTC", "UCT", "Universal", "Zulu", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich"]) {
      for (const path of [name, `Etc/${name}`]) assert.equal(fixedOffsetMinutes(zone(path), now), 0, path);
    }
  });

  it("formats as nats-server does, the same as the runtime's local time at that offset", () => {
    const ms = Date.UTC(2026, 0, 2, 3, 4, 5, 67);
    assert.equal(formatTimeAtOffset(ms, 0), "2026/01/02 03:04:05.067000");
    assert.equal(formatTimeAtOffset(ms, 330), "2026/01/02 08:34:05.067000");
    assert.equal(formatTimeAtOffset(ms, -240), "2026/01/01 23:04:05.067000");
    // This host's own zone: with its offset the logger writes what local time would have shown.
    const offset = -new Date(ms).getTimezoneOffset();
    assert.equal(formatTimeAtOffset(ms, offset), formatTime(new Date(ms)));
    const lines: string[] = [];
    const log = createLogger({ debug: false, trace: false, logtime: true, pid: 7, write: (l) => void lines.push(l), now: () => new Date(ms), utcOffsetMinutes: 60 });
    log.info("hi");
    assert.deepEqual(lines, ["[7] 2026/01/02 04:04:05.067000 [INF] hi\n"]);
  });
});
