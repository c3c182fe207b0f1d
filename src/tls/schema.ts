/**
 * The zod schema of a `tls {}` block, apart from config.ts so that using TLS settings does not load zod (only
 * validating a config file does).
 */
import { z } from "zod";
import { parseSeconds } from "./config.ts";

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
