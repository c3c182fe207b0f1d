/**
 * Logging in nats-server's format: `[pid] 2006/01/02 15:04:05.000000 [INF] text`. The sink is injected so
 * the core never touches stdout, stderr or files itself.
 */

import { formatTimeAtOffset, microsText, secondsText } from "./local_offset.ts";

export type LogLevel = "FTL" | "ERR" | "WRN" | "INF" | "DBG" | "TRC";

export interface Logger {
  fatal(msg: string): void;
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
  readonly debugEnabled: boolean;
  readonly traceEnabled: boolean;
}

export interface LoggerOptions {
  debug: boolean;
  trace: boolean;
  logtime: boolean;
  pid: number;
  write(line: string): void;
  now?: () => Date;
  /**
   * The host's fixed offset from UTC in minutes (src/log/local_offset.ts), so that times are formatted without
   * the runtime's time-zone lookup; absent: the runtime's local time.
   */
  utcOffsetMinutes?: number;
}

let lastSecond = NaN;
let lastText = "";

/** nats-server's log time in the runtime's local time zone (the second's text is kept, as formatTimeAtOffset does). */
export function formatTime(d: Date): string {
  const ms = d.getTime();
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    lastText = secondsText(d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds());
    lastSecond = second;
  }
  return lastText + microsText(d.getMilliseconds());
}

export function createLogger(o: LoggerOptions): Logger {
  const now = o.now ?? (() => new Date());
  const offset = o.utcOffsetMinutes;
  const stamp = offset === undefined ? () => formatTime(now()) : () => formatTimeAtOffset(now().getTime(), offset);
  const emit = (level: LogLevel, msg: string) => {
    const time = o.logtime ? `${stamp()} ` : "";
    o.write(`[${o.pid}] ${time}[${level}] ${msg}\n`);
  };
  return {
    fatal: (m) => emit("FTL", m),
    error: (m) => emit("ERR", m),
    warn: (m) => emit("WRN", m),
    info: (m) => emit("INF", m),
    debug: (m) => o.debug && emit("DBG", m),
    trace: (m) => o.trace && emit("TRC", m),
    debugEnabled: o.debug,
    traceEnabled: o.trace,
  };
}

/** A logger that drops everything (embedding, tests). */
export const silentLogger: Logger = {
  fatal() {},
  error() {},
  warn() {},
  info() {},
  debug() {},
  trace() {},
  debugEnabled: false,
  traceEnabled: false,
};
