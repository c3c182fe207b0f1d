// Users and permissions from a validated raw file to typed options: one converter for `authorization.users`
// and for the users of every account, so both read the same spellings and obey the same rules
// (a user has "user" or an nkey, an nkey user has no password, an nkey is a valid public user key).

import { authLibs } from "../server/auth_libs.ts";
import type { Permissions, SubjectPermission, UserEntry } from "./account_options.ts";
import type { RawConfig } from "./schema.ts";
import { toDurationMs } from "./units.ts";
import { isValidSubject } from "../subjects/subject.ts";

type RawAuthorization = NonNullable<RawConfig["authorization"]>;
export type RawPermissions = NonNullable<RawAuthorization["permissions"]>;
type RawSubjectPermission = NonNullable<RawPermissions["publish"]>;
export type RawUser = NonNullable<RawAuthorization["users"]>[number];

const DEFAULT_RESPONSE_MAX = 1;
const DEFAULT_RESPONSE_EXPIRES_MS = 120_000;

function list(v: string | (string | number)[] | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  return typeof v === "string" ? [v] : v.map(String);
}

function isTrue(v: boolean | string): boolean {
  return typeof v === "boolean" ? v : ["true", "yes", "on"].includes(v.toLowerCase());
}

function subjectPermission(v: RawSubjectPermission): SubjectPermission {
  const out: SubjectPermission = {};
  const allow = list(v.allow ?? v.allows);
  const deny = list(v.deny ?? v.denies);
  if (allow !== undefined) out.allow = allow;
  if (deny !== undefined) out.deny = deny;
  return out;
}

export function permissions(p: RawPermissions): Permissions {
  const out: Permissions = {};
  const pub = p.publish ?? p.pub ?? p.import;
  if (pub !== undefined) out.publish = subjectPermission(pub);
  const sub = p.subscribe ?? p.sub ?? p.export;
  if (sub !== undefined) out.subscribe = subjectPermission(sub);
  const resp = p.allow_responses ?? p.allow_resp;
  if (resp !== undefined) {
    if (typeof resp === "boolean" || typeof resp === "string") {
      if (isTrue(resp)) out.allow_responses = { max: DEFAULT_RESPONSE_MAX, expires: DEFAULT_RESPONSE_EXPIRES_MS };
    } else {
      const expires = resp.expires ?? resp.expiration ?? resp.ttl;
      out.allow_responses = {
        max: resp.max ?? resp.max_msgs ?? resp.max_messages ?? resp.max_responses ?? DEFAULT_RESPONSE_MAX,
        expires: (expires === undefined ? undefined : toDurationMs(expires)) ?? DEFAULT_RESPONSE_EXPIRES_MS,
      };
    }
  }
  return out;
}

/**
 * The first subject in permissions that is not a valid subject (a "subject queue" pair is allowed, as nats-server
 * allows it for subscriptions), as an error text; a typo in a deny list must not silently deny nothing.
 */
export function permissionsProblem(p: Permissions): string | undefined {
  for (const [dir, sp] of [["publish", p.publish], ["subscribe", p.subscribe]] as const) {
    for (const [kind, list] of [["allow", sp?.allow], ["deny", sp?.deny]] as const) {
      for (const s of list ?? []) {
        const parts = s.trim().split(/\s+/);
        if (parts.length > 2 || !isValidSubject(parts[0])) return `permissions.${dir}.${kind}: subject "${s}" is not a valid subject`;
      }
    }
  }
  return undefined;
}

/** Is this a valid public user nkey ("U" + checksum), as nats-server requires for nkey users? */
export function isPublicUserKey(key: string): boolean {
  if (!key.startsWith("U")) return false;
  const { fromPublic } = authLibs().nkeys;
  try {
    fromPublic(key);
    return true;
  } catch {
    return false;
  }
}

/** One user entry; `fallback` = the block's default permissions for users without their own. */
export function normalizeUser(u: RawUser, fallback: Permissions | undefined): { ok: true; user: UserEntry } | { ok: false; message: string } {
  const nkey = u.nkey === undefined ? undefined : String(u.nkey);
  const name = u.user ?? u.username;
  const password = u.password ?? u.pass;
  if (nkey !== undefined) {
    if (!isPublicUserKey(nkey)) return { ok: false, message: `not a valid public nkey for a user: "${nkey}"` };
    if (name !== undefined || password !== undefined) return { ok: false, message: "nkey users do not take usernames or passwords" };
  } else if (name === undefined) {
    return { ok: false, message: 'a user needs "user" or "nkey"' };
  }
  const user: UserEntry = { user: nkey ?? String(name) };
  if (password !== undefined) user.password = String(password);
  if (nkey !== undefined) user.nkey = nkey;
  const p = u.permissions ?? u.permission ?? u.authorization;
  const perms = p ? permissions(p) : fallback;
  const problem = p && perms ? permissionsProblem(perms) : undefined;
  if (problem !== undefined) return { ok: false, message: problem };
  if (perms !== undefined) user.permissions = perms;
  return { ok: true, user };
}
