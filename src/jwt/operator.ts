/**
 * Operator mode (decentralized authentication): the trust chain operator -> account -> user, as nats-server 2.9
 * checks it. The operator JWT is trusted because the configuration names it; an account JWT must be signed by the
 * operator (or one of its signing keys) and be known to the resolver (`resolver: MEMORY` with
 * `resolver_preload`); a user JWT must be signed by its account (or one of the account's signing keys, then
 * naming the account in `issuer_account`), not be expired nor revoked, and the client must sign the INFO nonce
 * with the user's key (unless the JWT is a bearer token). JWT parsing and signature checks are @nats-io/jwt's.
 */
import { type Account, type ClaimsData, decode, type Operator, type Permissions, type User } from "@nats-io/jwt";
import { fromPublic } from "@nats-io/nkeys";
import type { PermissionsConfig } from "../server/permissions.ts";

/** A check that failed, with the reason nats-server would log. */
export type JwtResult<T> = { ok: true; value: T } | { ok: false; error: string };

export interface OperatorConfig {
  /** The operator JWTs (already read from their files). */
  operators: string[];
  /** Account public key -> account JWT. */
  preload: Record<string, string>;
}

export interface UserAuth {
  /** The user's public key (what /connz shows as the authorized user). */
  user: string;
  /** When the user's JWT was issued (seconds): revocations compare against it. */
  issuedAt: number;
  name: string;
  /** The account's public key: the account the client binds to. */
  account: string;
  permissions?: PermissionsConfig;
  /** When the user's JWT expires (ms since the epoch), if it does. */
  expiresAt?: number;
  /** Limits from the claims (-1 = unlimited). */
  maxSubscriptions: number;
  maxPayload: number;
  /** The account's connection limit (-1 = unlimited; a JWT without limits allows none, as in nats-server). */
  accountMaxConnections: number;
}

interface TrustedAccount {
  claims: ClaimsData<Account>;
  signingKeys: Set<string>;
}

function keysOf(list: unknown): Set<string> {
  const out = new Set<string>();
  if (!Array.isArray(list)) return out;
  for (const k of list) {
    if (typeof k === "string") out.add(k);
    else if (k !== null && typeof k === "object" && typeof (k as { key?: unknown }).key === "string") out.add((k as { key: string }).key);
  }
  return out;
}

function decodeAs<T>(jwt: string, type: string): JwtResult<ClaimsData<T>> {
  let c: ClaimsData<T>;
  try {
    c = decode<T>(jwt.trim());
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  const t = c.type ?? (c.nats as { type?: string } | undefined)?.type;
  if (t !== type) return { ok: false, error: `not an ${type} JWT (type ${String(t)})` };
  return { ok: true, value: c };
}

/** Is a JWT valid at `nowMs` (exp and nbf are seconds)? */
function timeError(c: { exp?: number; nbf?: number }, nowMs: number): string | undefined {
  if (c.exp !== undefined && c.exp > 0 && c.exp * 1000 <= nowMs) return "expired";
  if (c.nbf !== undefined && c.nbf > 0 && c.nbf * 1000 > nowMs) return "not yet valid";
  return undefined;
}

function permissionsOf(p: Partial<Permissions>): PermissionsConfig | undefined {
  const out: PermissionsConfig = {};
  const side = (x: Partial<{ allow: string[]; deny: string[] }> | undefined) => {
    if (x === undefined) return undefined;
    const s: { allow?: string[]; deny?: string[] } = {};
    if (x.allow !== undefined && x.allow.length > 0) s.allow = x.allow;
    if (x.deny !== undefined && x.deny.length > 0) s.deny = x.deny;
    return s.allow === undefined && s.deny === undefined ? undefined : s;
  };
  const pub = side(p.pub);
  const sub = side(p.sub);
  if (pub !== undefined) out.publish = pub;
  if (sub !== undefined) out.subscribe = sub;
  return Object.keys(out).length === 0 ? undefined : out;
}

/** The resolver and the operators this server trusts. Built once at start; throws on a bad configuration. */
export class OperatorTrust {
  /** Public keys allowed to sign account JWTs: the operators and their signing keys. */
  readonly #operatorKeys = new Set<string>();
  readonly #accounts = new Map<string, TrustedAccount>();
  /** The operator's system account (a public key), when it names one. */
  readonly systemAccount: string | undefined;

  constructor(cfg: OperatorConfig, nowMs: number, stored: Record<string, string> = {}) {
    let system: string | undefined;
    for (const [i, jwt] of cfg.operators.entries()) {
      const r = decodeAs<Operator>(jwt, "operator");
      if (!r.ok) throw new Error(`operator[${i}]: ${r.error}`);
      const op = r.value;
      if (op.iss !== op.sub) throw new Error(`operator[${i}]: an operator JWT must be self-signed`);
      const t = timeError(op, nowMs);
      if (t !== undefined) throw new Error(`operator[${i}]: operator JWT ${t}`);
      this.#operatorKeys.add(op.sub);
      for (const k of keysOf(op.nats.signing_keys)) this.#operatorKeys.add(k);
      system ??= op.nats.system_account;
    }
    this.systemAccount = system;
    // Stored JWTs first (the full resolver's directory), then resolver_preload: a newer stored one wins.
    for (const [key, jwt] of Object.entries(stored)) {
      const r = this.#verifyAccount(jwt, nowMs);
      if (r.ok && r.value.claims.sub === key) this.#accounts.set(key, r.value);
    }
    for (const [key, jwt] of Object.entries(cfg.preload)) {
      const r = this.#verifyAccount(jwt, nowMs);
      if (!r.ok) throw new Error(`resolver_preload: account ${key}: ${r.error}`);
      if (r.value.claims.sub !== key) throw new Error(`resolver_preload: account ${key}: the JWT is for ${r.value.claims.sub}`);
      const held = this.#accounts.get(key);
      if (held === undefined || held.claims.iat <= r.value.claims.iat) this.#accounts.set(key, r.value);
    }
  }

  #verifyAccount(jwt: string, nowMs: number): JwtResult<TrustedAccount> {
    const r = decodeAs<Account>(jwt, "account");
    if (!r.ok) return r;
    const c = r.value;
    if (!this.#operatorKeys.has(c.iss)) return { ok: false, error: "signed by an operator this server does not trust" };
    const t = timeError(c, nowMs);
    if (t !== undefined) return { ok: false, error: `account JWT ${t}` };
    return { ok: true, value: { claims: c, signingKeys: keysOf(c.nats.signing_keys) } };
  }

  /**
   * A new or updated account JWT (the full resolver's `$SYS.REQ.CLAIMS.UPDATE`): checked like a preloaded one;
   * an older JWT than the one held is refused. Returns the account's public key.
   */
  update(jwt: string, nowMs: number): JwtResult<string> {
    const r = this.#verifyAccount(jwt, nowMs);
    if (!r.ok) return r;
    const key = r.value.claims.sub;
    const old = this.#accounts.get(key);
    if (old !== undefined && r.value.claims.iat < old.claims.iat) {
      return { ok: false, error: "the JWT is older than the one held" };
    }
    this.#accounts.set(key, r.value);
    return { ok: true, value: key };
  }

  /** Is this user (public key, JWT issued at `iat` seconds) revoked by its account now? */
  isRevoked(account: string, user: string, iat: number): boolean {
    const revoked = this.#accounts.get(account)?.claims.nats.revocations ?? {};
    const at = revoked[user] ?? revoked["*"];
    return at !== undefined && iat <= at;
  }

  /**
   * Every account the JWTs define, as `accounts {}` entries: public exports (`token_req` exports need activation
   * tokens, not implemented: left out), imports of the same subject on both sides that an export of the other
   * account covers (imports with `to`, `local_subject`, `token` or `share` are left out, as are ones nothing
   * exports: nothing crosses that nats-server would not let cross), and JetStream when the JWT grants storage.
   * What was left out is returned for the log.
   */
  accountRules(): { rules: Record<string, AccountRule>; skipped: string[] } {
    const rules: Record<string, AccountRule> = {};
    const skipped: string[] = [];
    const js = this.jetStreamAccounts();
    for (const [key, a] of this.#accounts) {
      const exports: AccountRule["exports"] = [];
      for (const e of a.claims.nats.exports ?? []) {
        if (e.token_req === true) {
          skipped.push(`account ${key}: export ${e.subject} needs activation tokens (not implemented)`);
          continue;
        }
        if (e.type === "stream") exports.push({ stream: e.subject });
        else {
          const x: AccountRule["exports"][number] = { service: e.subject };
          if (e.response_type !== undefined) x.response_type = e.response_type.toLowerCase() as "singleton" | "stream" | "chunked";
          if (e.response_threshold !== undefined && e.response_threshold > 0) x.response_threshold = Math.round(e.response_threshold / 1_000_000);
          exports.push(x);
        }
      }
      rules[key] = { exports, imports: [] };
      if (js[key] !== undefined) rules[key].jetstream = js[key];
    }
    for (const [key, a] of this.#accounts) {
      for (const i of a.claims.nats.imports ?? []) {
        const plain = (i.to ?? "") === "" && (i.local_subject ?? "") === "" && (i.token ?? "") === "" && i.share !== true;
        const exporter = rules[i.account];
        const kind = i.type === "stream" ? "stream" : "service";
        const covered = exporter?.exports.some((e) => {
          const subject = kind === "stream" ? e.stream : e.service;
          return subject !== undefined && subjectCovers(subject, i.subject);
        }) ?? false;
        if (!plain || !covered || i.account === key) {
          skipped.push(`account ${key}: ${kind} import ${i.subject} from ${i.account} not applied`);
          continue;
        }
        rules[key].imports.push(kind === "stream" ? { stream: { account: i.account, subject: i.subject } } : { service: { account: i.account, subject: i.subject } });
      }
    }
    return { rules, skipped };
  }

  /**
   * The JetStream limits the account JWTs grant, keyed by account (as an `accounts {}` block's `jetstream`):
   * enabled when the JWT gives memory or disk storage (-1 = unlimited), as nats-server reads the claims.
   */
  jetStreamAccounts(): Record<string, { max_mem: number; max_file: number; max_streams: number; max_consumers: number }> {
    const out: Record<string, { max_mem: number; max_file: number; max_streams: number; max_consumers: number }> = {};
    for (const [key, a] of this.#accounts) {
      const l = a.claims.nats.limits ?? {};
      const mem = l.mem_storage ?? 0;
      const disk = l.disk_storage ?? 0;
      if (mem === 0 && disk === 0) continue;
      out[key] = { max_mem: mem, max_file: disk, max_streams: l.streams ?? -1, max_consumers: l.consumer ?? -1 };
    }
    return out;
  }

  /** Accounts the resolver knows (public keys). */
  accountKeys(): string[] {
    return [...this.#accounts.keys()];
  }

  /**
   * Check a client's CONNECT `jwt` and `sig` against the INFO nonce. The error is what nats-server logs; the
   * client is told "Authorization Violation" either way.
   */
  authenticate(jwt: string | undefined, sig: string | undefined, nonce: string | undefined, nowMs: number): JwtResult<UserAuth> {
    if (jwt === undefined || jwt === "") return { ok: false, error: "no user JWT in CONNECT" };
    const r = decodeAs<User>(jwt, "user");
    if (!r.ok) return { ok: false, error: `user JWT: ${r.error}` };
    const u = r.value;
    const t = timeError(u, nowMs);
    if (t !== undefined) return { ok: false, error: `user JWT ${t}` };
    const accountKey = u.nats.issuer_account ?? u.iss;
    const account = this.#accounts.get(accountKey);
    if (account === undefined) return { ok: false, error: `account ${accountKey} not found by the resolver` };
    const at = timeError(account.claims, nowMs);
    if (at !== undefined) return { ok: false, error: `account JWT ${at}` };
    if (u.iss !== accountKey && !account.signingKeys.has(u.iss)) {
      return { ok: false, error: "user JWT issuer is neither the account nor one of its signing keys" };
    }
    if (this.isRevoked(accountKey, u.sub, u.iat)) return { ok: false, error: "user JWT has been revoked" };
    // Restrictions Petrel cannot enforce yet refuse the user rather than admit it more widely than nats-server would.
    if ((u.nats.src ?? []).length > 0) return { ok: false, error: "user JWT restricts source networks (src), not implemented by Petrel: refused" };
    if ((u.nats.times ?? []).length > 0) return { ok: false, error: "user JWT restricts connect times (times), not implemented by Petrel: refused" };
    if ((u.nats.allowed_connection_types ?? []).length > 0) {
      return { ok: false, error: "user JWT restricts connection types, not implemented by Petrel: refused" };
    }
    const bearer = u.nats.bearer_token === true;
    if (bearer && account.claims.nats.limits?.disallow_bearer === true) {
      return { ok: false, error: "bearer tokens are not allowed by the account" };
    }
    if (!bearer) {
      if (nonce === undefined || sig === undefined) return { ok: false, error: "missing nonce signature" };
      if (!verifySig(u.sub, nonce, sig)) return { ok: false, error: "signature does not verify" };
    }
    const auth: UserAuth = {
      user: u.sub,
      issuedAt: u.iat,
      name: u.name,
      account: accountKey,
      maxSubscriptions: u.nats.subs ?? -1,
      maxPayload: u.nats.payload ?? -1,
      accountMaxConnections: account.claims.nats.limits?.conn ?? 0,
    };
    // A user without permissions of its own gets the account's default_permissions.
    const own = u.nats.pub !== undefined || u.nats.sub !== undefined;
    const perms = permissionsOf(own ? u.nats : account.claims.nats.default_permissions ?? {});
    if (perms !== undefined) auth.permissions = perms;
    if (u.exp !== undefined && u.exp > 0) auth.expiresAt = u.exp * 1000;
    return { ok: true, value: auth };
  }
}

/** An `accounts {}` entry made from an account JWT. */
export interface AccountRule {
  exports: { stream?: string; service?: string; response_type?: "singleton" | "stream" | "chunked"; response_threshold?: number }[];
  imports: { stream?: { account: string; subject: string }; service?: { account: string; subject: string } }[];
  jetstream?: { max_mem: number; max_file: number; max_streams: number; max_consumers: number };
}

/** Does an export's subject (wildcards allowed) cover an import's subject (token by token)? */
function subjectCovers(exported: string, imported: string): boolean {
  const e = exported.split(".");
  const i = imported.split(".");
  for (let k = 0; k < e.length; k++) {
    if (e[k] === ">") return i.length > k;
    if (k >= i.length) return false;
    if (e[k] === "*") {
      if (i[k] === ">") return false;
      continue;
    }
    if (e[k] !== i[k]) return false;
  }
  return e.length === i.length;
}

function verifySig(pub: string, nonce: string, sig: string): boolean {
  try {
    const raw = atob(sig.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(sig.length / 4) * 4, "="));
    const bytes = Uint8Array.from(raw, (ch) => ch.charCodeAt(0));
    return fromPublic(pub).verify(new TextEncoder().encode(nonce), bytes);
  } catch {
    return false;
  }
}

/** `operator:` holds JWTs or paths to files holding them (nats-server accepts both). */
export function isJwtText(v: string): boolean {
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(v.trim());
}

/** The JWT inside a file: a bare JWT, or the first JWT block of a .jwt/.creds-style file. */
export function jwtFromFile(text: string): string | undefined {
  const block = /-----BEGIN [A-Z ]*JWT-----\s*([\w.-]+)\s*------END [A-Z ]*JWT------/.exec(text);
  if (block !== null) return block[1];
  const bare = text.split(/\s+/).find((t) => isJwtText(t));
  return bare;
}
