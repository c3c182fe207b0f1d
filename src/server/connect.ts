/**
 * The CONNECT options a client sends, checked against the shape of `ConnectSchema` (connect_schema.ts) by hand:
 * every client sends one, and zod costs an idle server about 10 MB it otherwise never needs. Unknown fields are
 * kept and ignored, as the schema's looseObject does; a test holds the two to the same answers.
 */
import type { ConnectOptions } from "./connect_schema.ts";

export type { ConnectOptions } from "./connect_schema.ts";

const BOOLEANS = ["verbose", "pedantic", "echo", "headers", "no_responders", "tls_required"] as const;
const STRINGS = ["user", "pass", "auth_token", "name", "lang", "version", "jwt", "nkey", "sig"] as const;

export function parseConnect(json: string): ConnectOptions | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  for (const k of BOOLEANS) if (o[k] !== undefined && typeof o[k] !== "boolean") return undefined;
  for (const k of STRINGS) if (o[k] !== undefined && typeof o[k] !== "string") return undefined;
  if (o.protocol !== undefined && (typeof o.protocol !== "number" || !Number.isFinite(o.protocol))) return undefined;
  return { ...o } as ConnectOptions;
}
