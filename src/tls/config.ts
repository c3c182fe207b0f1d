/**
 * The `tls {}` block as nats-server reads it (client, cluster, gateway, leafnode and websocket listeners share
 * its shape), normalized to `TlsConfig`, and turned into the transport's `TlsSettings` once the files are read.
 * Keys nats-server knows that Petrel does not implement are refused: a TLS setting is never silently dropped.
 * Loaded only where TLS is configured: Server.start imports it when the options name TLS (a plain start does not).
 */
import type { TlsSettings } from "../transport/types.ts";
import type { RawTlsBlock } from "./schema.ts";
import { DEFAULTS } from "../config/defaults.ts";

export type { RawTlsBlock } from "./schema.ts";

/** Normalized TLS options (file paths, durations in ms). */
export interface TlsConfig {
  cert_file?: string;
  key_file?: string;
  ca_file?: string;
  /** Require and verify a client certificate (listeners). */
  verify: boolean;
  /** verify, and take the user from the certificate (client listener). */
  verify_and_map: boolean;
  /** Do not verify the server's certificate (solicited connections). */
  insecure: boolean;
  /** Handshake deadline, ms. */
  timeout: number;
  min_version?: "TLSv1.2" | "TLSv1.3";
}

/** nats-server's TLS handshake timeout (server/const.go TLS_TIMEOUT), kept with the other defaults. */
export const DEFAULT_TLS_TIMEOUT_MS: number = DEFAULTS.tls_timeout;


/** A duration in seconds as nats-server writes it in a tls block ("2", "2s", "500ms", "1m"). */
export function parseSeconds(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(v);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return m[2] === "ms" ? n / 1000 : m[2] === "m" ? n * 60 : n;
}

function truthy(v: boolean | string | undefined): boolean {
  if (v === undefined) return false;
  if (typeof v === "boolean") return v;
  return ["true", "yes", "on"].includes(v.toLowerCase());
}

/** Normalize a validated block. `what` names the block in error messages ("tls", "cluster.tls"...). */
export function tlsConfigFromRaw(raw: RawTlsBlock, what: string): { ok: true; value: TlsConfig } | { ok: false; error: string } {
  const cfg: TlsConfig = {
    verify: truthy(raw.verify) || truthy(raw.verify_and_map),
    verify_and_map: truthy(raw.verify_and_map),
    insecure: truthy(raw.insecure),
    timeout: DEFAULT_TLS_TIMEOUT_MS,
  };
  if (raw.cert_file !== undefined) cfg.cert_file = String(raw.cert_file);
  if (raw.key_file !== undefined) cfg.key_file = String(raw.key_file);
  if (raw.ca_file !== undefined) cfg.ca_file = String(raw.ca_file);
  if (raw.timeout !== undefined) {
    const s = typeof raw.timeout === "number" ? raw.timeout : parseSeconds(raw.timeout) ?? 0;
    cfg.timeout = Math.round(s * 1000);
  }
  if (raw.min_version !== undefined) {
    cfg.min_version = raw.min_version.trim().endsWith("1.3") ? "TLSv1.3" : "TLSv1.2";
  }
  if ((cfg.cert_file === undefined) !== (cfg.key_file === undefined)) {
    return { ok: false, error: `${what}: cert_file and key_file must be given together` };
  }
  return { ok: true, value: cfg };
}

/** Reads a file's text; undefined when it does not exist or cannot be read. */
export type ReadText = (path: string) => string | undefined;

function readOrFail(read: ReadText, path: string, key: string, what: string): string {
  let text: string | undefined;
  try {
    text = read(path);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw new Error(`${what}: cannot read ${key} "${path}"`);
  return text;
}

/**
 * The transport's settings for one listener ("server") or one remote ("client"). Throws an Error naming the
 * file that is missing or unreadable: start-up stops on it.
 */
export function tlsSettingsFor(cfg: TlsConfig, role: "server" | "client", read: ReadText, what: string, serverName?: string): TlsSettings {
  if (role === "server" && (cfg.cert_file === undefined || cfg.key_file === undefined)) {
    throw new Error(`${what}: a TLS listener needs cert_file and key_file`);
  }
  const s: {
    -readonly [K in keyof TlsSettings]: TlsSettings[K];
  } = { role, verify: role === "server" ? cfg.verify : true };
  if (cfg.cert_file !== undefined) s.cert = readOrFail(read, cfg.cert_file, "cert_file", what);
  if (cfg.key_file !== undefined) s.key = readOrFail(read, cfg.key_file, "key_file", what);
  if (cfg.ca_file !== undefined) s.ca = readOrFail(read, cfg.ca_file, "ca_file", what);
  if (role === "server" && cfg.verify && s.ca === undefined) {
    throw new Error(`${what}: verify needs ca_file (the CA that signs client certificates)`);
  }
  if (cfg.min_version !== undefined) s.minVersion = cfg.min_version;
  if (role === "client") {
    if (cfg.insecure) s.insecure = true;
    if (serverName !== undefined) s.serverName = serverName;
  }
  return s;
}

/** nats-server's default auth timeout of a listener: its TLS timeout plus a second when it has TLS, else 2 s. */
export function defaultAuthTimeoutMs(tls: TlsConfig | undefined): number {
  return tls === undefined ? 2000 : tls.timeout + 1000;
}
