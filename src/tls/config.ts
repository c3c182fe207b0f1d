/**
 * The `tls {}` block as nats-server reads it (client, cluster, gateway, leafnode and websocket listeners share
 * its shape), normalized to `TlsConfig`, and turned into the transport's `TlsSettings` once the files are read.
 * Keys nats-server knows that Petrel does not implement are refused: a TLS setting is never silently dropped.
 */
import { z } from "zod";
import type { TlsSettings } from "../transport/types.ts";

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

/** nats-server's TLS handshake timeout (server/const.go TLS_TIMEOUT). */
export const DEFAULT_TLS_TIMEOUT_MS = 2000;

const str = z.custom<string | number>((v) => typeof v === "string" || typeof v === "number", { error: "a string" });
const bool = z.custom<boolean | string>(
  (v) => typeof v === "boolean" || (typeof v === "string" && ["true", "false", "yes", "no", "on", "off"].includes(v.toLowerCase())),
  { error: "a boolean (true/false)" },
);
const seconds = z.custom<number | string>(
  (v) => (typeof v === "number" && v >= 0) || (typeof v === "string" && parseSeconds(v) !== undefined),
  { error: 'a number of seconds (e.g. 2 or 0.5) or a duration ("2s")' },
);
const version = z.custom<string>(
  (v) => typeof v === "string" && /^(TLSv?)?1\.[23]$/i.test(v.trim()),
  { error: 'a TLS version ("1.2" or "1.3")' },
);
/** A nats-server TLS key Petrel does not implement: present at all is an error (fail closed). */
const refused = z.custom<never>(() => false, { error: "a setting Petrel does not implement (remove it; TLS settings are never ignored)" });

export const tlsBlockSchema = z.looseObject({
  cert_file: str.optional(),
  key_file: str.optional(),
  ca_file: str.optional(),
  verify: bool.optional(),
  verify_and_map: bool.optional(),
  insecure: bool.optional(),
  timeout: seconds.optional(),
  min_version: version.optional(),
  cipher_suites: refused.optional(),
  curve_preferences: refused.optional(),
  pinned_certs: refused.optional(),
  verify_cert_and_check_known_urls: refused.optional(),
  cert_store: refused.optional(),
  cert_match_by: refused.optional(),
  cert_match: refused.optional(),
  ca_certs_match: refused.optional(),
  ocsp_peer: refused.optional(),
  handshake_first: refused.optional(),
  first: refused.optional(),
  certs: refused.optional(),
}, { error: "a map (tls { cert_file, key_file, ca_file, verify, timeout })" });

export type RawTlsBlock = z.output<typeof tlsBlockSchema>;

function parseSeconds(v: string): number | undefined {
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
