/**
 * Client authentication from the CONNECT options: token, single user/password, or a list of users with
 * permissions; bcrypt-hashed passwords are accepted as nats-server accepts them.
 */
import { authLibs } from "./auth_libs.ts";
import type { PermissionsConfig } from "./permissions.ts";

export interface AuthUser {
  user: string;
  password?: string;
  nkey?: string;
  permissions?: PermissionsConfig;
  /** The account the user belongs to (declared inside `accounts { X { users } }`); `$G` when absent. */
  account?: string;
}

export interface AuthConfig {
  user?: string;
  password?: string;
  token?: string;
  users: AuthUser[];
  /** Permissions for the single user/token form. */
  permissions?: PermissionsConfig;
  no_auth_user?: string;
}

export interface Credentials {
  user?: string;
  pass?: string;
  auth_token?: string;
  nkey?: string;
  /** base64url signature of the INFO nonce, made with the nkey's seed. */
  sig?: string;
}

/** Does any configured user authenticate with an nkey (so INFO must carry a nonce)? */
export function usesNkeys(a: AuthConfig | undefined): boolean {
  return a !== undefined && a.users.some((u) => u.nkey !== undefined);
}

function verifyNkey(pub: string, nonce: string, sig: string): boolean {
  const { fromPublic } = authLibs().nkeys;
  try {
    const raw = atob(sig.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(sig.length / 4) * 4, "="));
    const sigBytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
    return fromPublic(pub).verify(new TextEncoder().encode(nonce), sigBytes);
  } catch {
    return false;
  }
}

export type AuthOutcome =
  | { ok: true; user?: string; permissions?: PermissionsConfig; account?: string; /** ms since the epoch (user JWTs) */ expiresAt?: number; /** user JWT limits (-1 = none) */ maxSubscriptions?: number; maxPayload?: number; /** user JWT iat (s) */ issuedAt?: number }
  | { ok: false; /** -ERR text when it is not "Authorization Violation" */ error?: string };

export function authRequired(a: AuthConfig | undefined): boolean {
  if (a === undefined) return false;
  return a.token !== undefined || a.user !== undefined || a.users.length > 0;
}

/** Compare a presented secret with the configured one; `$2a$`/`$2b$`/`$2y$` values are bcrypt hashes. */
export function secretMatches(configured: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  if (/^\$2[aby]?\$\d\d\$/.test(configured)) {
    const bcrypt = authLibs().bcrypt;
    try {
      return bcrypt.compareSync(presented, configured);
    } catch {
      return false;
    }
  }
  return timingSafeEqual(configured, presented);
}

function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  return diff === 0;
}

export function authenticate(cfg: AuthConfig | undefined, creds: Credentials, nonce?: string): AuthOutcome {
  if (!authRequired(cfg) || cfg === undefined) return { ok: true };
  if (creds.nkey !== undefined) {
    const u = cfg.users.find((x) => x.nkey === creds.nkey);
    if (u === undefined || nonce === undefined || creds.sig === undefined) return { ok: false };
    return verifyNkey(creds.nkey, nonce, creds.sig) ? userOutcome(u) : { ok: false };
  }
  if (cfg.token !== undefined) {
    return secretMatches(cfg.token, creds.auth_token) ? { ok: true, permissions: cfg.permissions } : { ok: false };
  }
  let user = creds.user;
  let pass = creds.pass;
  if (user === undefined && creds.auth_token === undefined && cfg.no_auth_user !== undefined) {
    const u = cfg.users.find((x) => x.user === cfg.no_auth_user);
    if (u !== undefined) return userOutcome(u);
  }
  if (cfg.user !== undefined) {
    if (user === cfg.user && cfg.password !== undefined && secretMatches(cfg.password, pass)) {
      return { ok: true, user, permissions: cfg.permissions };
    }
    if (cfg.users.length === 0) return { ok: false };
  }
  const u = cfg.users.find((x) => x.user === user && x.nkey === undefined);
  if (u === undefined) return { ok: false };
  if (u.password !== undefined && !secretMatches(u.password, pass)) return { ok: false };
  return userOutcome(u);
}

function userOutcome(u: AuthUser): AuthOutcome {
  const out: AuthOutcome = { ok: true, user: u.user, permissions: u.permissions };
  if (u.account !== undefined) out.account = u.account;
  return out;
}
