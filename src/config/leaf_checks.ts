/**
 * The checks behind the configuration's leaf values (ports, sizes, durations, ...) and the short forms a block
 * may be written in, without zod. schema.ts wraps each check in a `z.custom` whose error text is the
 * expectation printed to the operator; plain.ts runs the very same functions on files that need nothing else,
 * so that such a file is checked without loading zod (zod's code is ~11 MB RSS on both runtimes). One function
 * per check, shared by both paths: they cannot drift apart (test/config/plain.test.ts checks the identity).
 */
import { parseGoDuration, parseListen, toBytes, toDurationMs } from "./units.ts";

export interface LeafCheck {
  readonly test: (v: unknown) => boolean;
  /** The expectation, as printed after "expected". */
  readonly error: string;
}

const BOOL_WORDS = new Set(["true", "false", "yes", "no", "on", "off"]);

export const STRING: LeafCheck = {
  test: (v) => typeof v === "string" || (typeof v === "number" && Number.isFinite(v)),
  error: "a string",
};
export const BOOL: LeafCheck = {
  test: (v) => typeof v === "boolean" || (typeof v === "string" && BOOL_WORDS.has(v.toLowerCase())),
  error: "a boolean (true/false)",
};
export const INT: LeafCheck = {
  test: (v) => typeof v === "number" && Number.isSafeInteger(v),
  error: "an integer",
};
export const COUNT: LeafCheck = {
  test: (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0,
  error: "a non-negative integer",
};
export const PORT: LeafCheck = {
  test: (v) => typeof v === "number" && Number.isInteger(v) && v >= -1 && v <= 65535,
  error: "a port number (0-65535, or -1 for a random port)",
};
export const SIZE: LeafCheck = {
  test: (v) => (toBytes(v) ?? -1) >= 0,
  error: "a size (e.g. 1MB)",
};
/** Sizes where -1 means "unlimited / decided by the server" (JetStream limits). */
export const SIZE_OR_UNLIMITED: LeafCheck = {
  test: (v) => (toBytes(v) ?? -2) >= -1,
  error: "a size (e.g. 1GB) or -1",
};
export const DURATION: LeafCheck = {
  test: (v) => (toDurationMs(v) ?? -1) >= 0,
  error: 'a duration (e.g. "2s", "1m30s") or a number of seconds',
};
/** Duration written as a Go duration string only (lame_duck_duration, as nats-server requires). */
export const DURATION_STRING: LeafCheck = {
  test: (v) => (typeof v === "string" && (parseGoDuration(v) ?? -1) >= 0) || (typeof v === "number" && v >= 0),
  error: 'a duration (e.g. "2m", "30s")',
};
export const LISTEN: LeafCheck = {
  test: (v) => parseListen(v) !== undefined,
  error: 'a listen address "host:port" or a port number',
};
export const STRING_LIST: LeafCheck = {
  test: (v) =>
    typeof v === "string" ||
    (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number")),
  error: "a string or a list of strings",
};
export const STORAGE: LeafCheck = {
  test: (v) => v === "file" || v === "sqlite" || v === "memory",
  error: 'one of "file", "sqlite", "memory"',
};
export const SYNC_INTERVAL: LeafCheck = {
  test: (v) => v === "always" || (toDurationMs(v) ?? -1) >= 0,
  error: 'a duration (e.g. "2m") or "always"',
};

const JETSTREAM_WORDS: Record<string, boolean> = {
  enabled: true,
  enable: true,
  true: true,
  yes: true,
  on: true,
  disabled: false,
  disable: false,
  false: false,
  no: false,
  off: false,
};

/** `jetstream: enabled`, `jetstream: true` and friends are the short form of `jetstream { enabled: ... }`. */
export function jetstreamShortForm(v: unknown): unknown {
  if (typeof v === "boolean") return { enabled: v };
  if (typeof v === "string" && Object.hasOwn(JETSTREAM_WORDS, v.toLowerCase())) {
    return { enabled: JETSTREAM_WORDS[v.toLowerCase()] };
  }
  return v;
}
