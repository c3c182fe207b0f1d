// `accounts {}`, `system_account` and `no_auth_user` from a validated raw file to typed options
// (account_options.ts), with nats-server 2.9's start-up checks: reserved and duplicate names, users unique
// across accounts and `authorization`, exports and imports naming defined accounts, imports covered by an
// export open to the importer, no import cycles, `system_account` and `no_auth_user` naming something.
// Every problem comes back with the key path it concerns, for file:line reporting.

import type {
  AccountExport,
  AccountImport,
  AccountJetStreamLimits,
  AccountOptions,
  AccountsOptions,
  ResponseType,
  UserEntry,
} from "./account_options.ts";
import { DEFAULT_RESPONSE_THRESHOLD_MS, DEFAULT_SYSTEM_ACCOUNT, GLOBAL_ACCOUNT } from "./account_names.ts";
import { schemas } from "./schemas_on_demand.ts";
import type { RawConfig } from "./schema.ts";
import { type ConfMap, type ConfPath, type ConfValue, type ConfigError, isConfMap, type SourceLoc } from "./types.ts";
import { normalizeUser, permissions, permissionsProblem } from "./users.ts";
import { parseGoDuration, toBytes } from "./units.ts";
import { isLiteral, isValidSubject, subjectIsSubsetOf, subjectsIntersect } from "../subjects/subject.ts";

export interface PathError {
  path: ConfPath;
  message: string;
}

type RawAccounts = NonNullable<RawConfig["accounts"]>;
type RawAccount = RawAccounts[string];
type RawExport = NonNullable<RawAccount["exports"]>[number];
type RawImport = NonNullable<RawAccount["imports"]>[number];
type RawAccountJetStream = NonNullable<RawAccount["jetstream"]>;

/**
 * Checks on the list form `accounts: [A, B]` that the schema cannot make once the list became a map:
 * duplicate names. Also refuses the reserved "$G" in either form. Runs on the canonical (pre-schema) value.
 */
export function accountListErrors(root: ConfValue, locate: (path: ConfPath) => SourceLoc): ConfigError[] {
  if (!isConfMap(root) || root.accounts === undefined) return [];
  const out: ConfigError[] = [];
  const push = (path: ConfPath, message: string) => out.push({ ...locate(path), key: "accounts", message });
  const acc = root.accounts;
  if (Array.isArray(acc)) {
    const seen = new Set<string>();
    acc.forEach((n, i) => {
      const name = String(n);
      if (name === GLOBAL_ACCOUNT) push(["accounts", i], `accounts: "${name}" is a reserved account`);
      else if (seen.has(name)) push(["accounts", i], `accounts: duplicate account entry "${name}"`);
      seen.add(name);
    });
  } else if (isConfMap(acc) && Object.hasOwn(acc as ConfMap, GLOBAL_ACCOUNT)) {
    push(["accounts", GLOBAL_ACCOUNT], `accounts: "${GLOBAL_ACCOUNT}" is a reserved account`);
  }
  return out;
}

function responseType(v: string | undefined): ResponseType | undefined {
  if (v === undefined) return undefined;
  const w = v.toLowerCase();
  return w === "single" || w === "singleton" ? "singleton" : w === "chunk" || w === "chunked" ? "chunked" : "stream";
}

function normalizeExport(e: RawExport, path: ConfPath, errors: PathError[]): AccountExport | undefined {
  const rt = e.response_type ?? e.response;
  const threshold = e.response_threshold ?? e.threshold ?? e.response_max_time ?? e.response_time;
  if (e.stream !== undefined && e.service !== undefined) {
    errors.push({ path, message: `${label(path)}: has both "stream" and "service"; an export is one or the other` });
    return undefined;
  }
  if (e.stream === undefined && e.service === undefined) {
    errors.push({ path, message: `${label(path)}: needs "stream" or "service"` });
    return undefined;
  }
  const out: AccountExport = {};
  if (e.accounts !== undefined) out.accounts = e.accounts.map(String);
  if (e.stream !== undefined) {
    if (rt !== undefined || threshold !== undefined) {
      errors.push({ path, message: `${label(path)}: response_type/response_threshold apply to services, not streams` });
      return undefined;
    }
    if (!isValidSubject(e.stream)) {
      errors.push({ path: [...path, "stream"], message: `${label(path)}.stream: "${e.stream}" is not a valid subject` });
      return undefined;
    }
    out.stream = e.stream;
    return out;
  }
  const service = e.service as string;
  if (!isValidSubject(service)) {
    errors.push({ path: [...path, "service"], message: `${label(path)}.service: "${service}" is not a valid subject` });
    return undefined;
  }
  out.service = service;
  out.response_type = responseType(rt) ?? "singleton";
  out.response_threshold = threshold === undefined ? DEFAULT_RESPONSE_THRESHOLD_MS : (parseGoDuration(threshold) as number);
  return out;
}

function normalizeImport(i: RawImport, path: ConfPath, errors: PathError[]): AccountImport | undefined {
  if (i.stream !== undefined && i.service !== undefined) {
    errors.push({ path, message: `${label(path)}: has both "stream" and "service"; an import is one or the other` });
    return undefined;
  }
  const src = i.stream ?? i.service;
  const kind = i.stream !== undefined ? "stream" : "service";
  if (src === undefined) {
    errors.push({ path, message: `${label(path)}: needs "stream" or "service"` });
    return undefined;
  }
  if (src.account === undefined || src.subject === undefined) {
    errors.push({ path: [...path, kind], message: `${label(path)}.${kind}: expected an account name and a subject` });
    return undefined;
  }
  const from = { account: String(src.account), subject: src.subject };
  if (!isValidSubject(from.subject)) {
    errors.push({ path: [...path, kind], message: `${label(path)}.${kind}.subject: "${from.subject}" is not a valid subject` });
    return undefined;
  }
  for (const k of ["prefix", "to"] as const) {
    const v = i[k];
    if (v !== undefined && !isValidSubject(v)) {
      errors.push({ path: [...path, k], message: `${label(path)}.${k}: "${v}" is not a valid subject` });
      return undefined;
    }
  }
  const out: AccountImport = kind === "stream" ? { stream: from } : { service: from };
  if (kind === "stream" && i.prefix !== undefined && i.to !== undefined) {
    // nats-server 2.9 accepts or refuses this depending on map iteration order; refuse it always.
    errors.push({ path: [...path, "to"], message: `${label(path)}: a stream import cannot have both "prefix" and "to"` });
    return undefined;
  }
  if (kind === "stream" && i.prefix !== undefined) {
    // The prefix is literal.
    if (!isLiteral(i.prefix)) {
      errors.push({ path: [...path, "prefix"], message: `${label(path)}.prefix: "${i.prefix}" must not contain wildcards` });
      return undefined;
    }
    out.prefix = i.prefix;
  } else if (i.to !== undefined) {
    // Stream: messages on `subject` are delivered on `to`. Service: requests on `to` reach `subject`.
    // (A service `to` that names wildcards with $n / {{wildcard(n)}} is the destination of the subject's.)
    const [src, dst, strict] = kind === "stream"
      ? [from.subject, i.to, true]
      : hasWildcardRefs(i.to)
      ? [from.subject, i.to, false]
      : [i.to, from.subject, false];
    const problem = mappingProblem(src, dst, strict);
    if (problem !== undefined) {
      errors.push({ path: [...path, "to"], message: `${label(path)}.to: cannot map "${src}" to "${dst}": ${problem}` });
      return undefined;
    }
    out.to = i.to;
  }
  // nats-server ignores "prefix" on a service import.
  return out;
}

const WILDCARD_REF = /\$(\d+)|\{\{\s*wildcard\s*\(\s*(\d+)\s*\)\s*\}\}/gi;

function hasWildcardRefs(subject: string): boolean {
  return [...subject.matchAll(WILDCARD_REF)].length > 0;
}

/**
 * Can `source` be rewritten to `dest` token by token, as nats-server's import transforms do? `*` in `dest`
 * takes the source's wildcards in order (all of them when `strict`, as stream imports require), `$n` and
 * `{{wildcard(n)}}` name one; `>` only maps to `>`.
 */
function mappingProblem(source: string, dest: string, strict: boolean): string | undefined {
  const stars = source.split(".").filter((t) => t === "*").length;
  const srcFull = source.endsWith(">");
  const dstFull = dest.split(".").at(-1) === ">";
  if (dstFull && !srcFull) return `">" in the destination needs ">" in the source`;
  const refs = [...dest.matchAll(WILDCARD_REF)].map((m) => Number(m[1] ?? m[2]));
  if (refs.length > 0) {
    const bad = refs.find((n) => n < 1 || n > stars);
    return bad === undefined ? undefined : `wildcard ${bad} does not exist in the source (it has ${stars})`;
  }
  const destStars = dest.split(".").filter((t) => t === "*").length;
  if (destStars > stars || (strict && destStars !== stars)) return "not using all of the token wildcard(s)";
  return undefined;
}

function limit(v: number | string | undefined): number {
  return v === undefined ? -1 : (toBytes(v) ?? -1);
}

function normalizeJetStream(j: RawAccountJetStream): AccountJetStreamLimits | undefined {
  const enabled = j.enabled === undefined ? true : typeof j.enabled === "boolean" ? j.enabled : ["true", "yes", "on"].includes(j.enabled.toLowerCase());
  if (!enabled) return undefined;
  return {
    max_mem: limit(j.max_memory ?? j.max_mem ?? j.mem ?? j.memory),
    max_file: limit(j.max_store ?? j.max_file ?? j.max_disk ?? j.store ?? j.disk),
    max_streams: limit(j.max_streams ?? j.streams),
    max_consumers: limit(j.max_consumers ?? j.consumers),
  };
}

function label(path: ConfPath): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? p : `.${p}`;
  return out;
}

/** Users already defined in `authorization.users`: names (and nkeys) must be unique across everything. */
export interface AccountsInput {
  accounts?: RawAccounts;
  system_account?: string | number;
  system?: string | number;
  no_auth_user?: string;
  /** The normalized `authorization` block of the same file, if any. */
  authorization?: { user?: string; token?: string; users?: UserEntry[] };
}

export interface AccountsLayer {
  accounts?: AccountsOptions;
  system_account?: string;
}

/** Normalize and check accounts. Errors carry key paths; the caller adds file:line. */
export function normalizeAccounts(input: AccountsInput): { layer: AccountsLayer; errors: PathError[] } {
  const errors: PathError[] = [];
  const layer: AccountsLayer = {};
  const sys = input.system_account ?? input.system;
  const sysKey = input.system_account !== undefined ? "system_account" : "system";
  const accounts: AccountsOptions = {};
  const userPaths = new Map<string, ConfPath>();
  for (const u of input.authorization?.users ?? []) userPaths.set(u.user, ["authorization", "users"]);

  for (const [name, raw] of Object.entries(input.accounts ?? {})) {
    if (name === GLOBAL_ACCOUNT) continue; // reported by accountListErrors
    const base: ConfPath = ["accounts", name];
    const fallback = raw.default_permissions ? permissions(raw.default_permissions) : undefined;
    const defaultsProblem = fallback ? permissionsProblem(fallback) : undefined;
    if (defaultsProblem !== undefined) {
      errors.push({ path: [...base, "default_permissions"], message: `${label(base)}.default_${defaultsProblem}` });
    }
    const users: UserEntry[] = [];
    const exports: AccountExport[] = [];
    const imports: AccountImport[] = [];
    const acc: AccountOptions = { users, exports, imports };
    (raw.users ?? []).forEach((u, i) => {
      const path = [...base, "users", i];
      const r = normalizeUser(u, fallback);
      if (!r.ok) {
        errors.push({ path, message: `${label(path)}: ${r.message}` });
        return;
      }
      const prev = userPaths.get(r.user.user);
      if (prev !== undefined) {
        const where = prev[0] === "authorization" ? "in authorization.users" : `in account "${String(prev[1])}"`;
        const what = r.user.nkey !== undefined ? "nkey" : "user";
        errors.push({ path, message: `${label(path)}: duplicate ${what} "${r.user.user}" (already defined ${where})` });
        return;
      }
      userPaths.set(r.user.user, base);
      users.push(r.user);
    });
    if (users.length > 0 && input.authorization !== undefined) {
      if (input.authorization.user !== undefined) {
        errors.push({ path: [...base, "users"], message: `${label([...base, "users"])}: cannot have a single user/password in authorization and users in accounts` });
      } else if (input.authorization.token !== undefined) {
        errors.push({ path: [...base, "users"], message: `${label([...base, "users"])}: cannot have a token in authorization and users in accounts` });
      }
    }
    (raw.exports ?? []).forEach((e, i) => {
      const x = normalizeExport(e, [...base, "exports", i], errors);
      if (x) exports.push(x);
    });
    const serviceTo = new Map<string, AccountImport>();
    (raw.imports ?? []).forEach((e, i) => {
      const path = [...base, "imports", i];
      const x = normalizeImport(e, path, errors);
      if (!x) return;
      if (x.service) {
        const local = x.to ?? x.service.subject;
        const dup = serviceTo.get(local);
        if (dup?.service) {
          errors.push({
            path,
            message: `${label(path)}: duplicate service import subject "${local}", already used by the import of "${dup.service.subject}" from account "${dup.service.account}"`,
          });
          return;
        }
        serviceTo.set(local, x);
      }
      imports.push(x);
    });
    if (raw.jetstream !== undefined) {
      const js = normalizeJetStream(raw.jetstream);
      if (js) acc.jetstream = js;
    }
    accounts[name] = acc;
  }
  if (input.accounts !== undefined) {
    errors.push(...crossCheck(accounts));
    layer.accounts = accounts;
  }

  if (sys !== undefined) {
    const name = String(sys);
    if (name !== DEFAULT_SYSTEM_ACCOUNT && !Object.hasOwn(accounts, name)) {
      errors.push({ path: [sysKey], message: `${sysKey}: account "${name}" is not defined in accounts (nats-server: error resolving system account)` });
    }
    layer.system_account = name;
  }

  if (input.no_auth_user !== undefined) {
    const n = input.no_auth_user;
    const any = userPaths.size > 0;
    const isPlainUser = [...(input.authorization?.users ?? []), ...Object.values(accounts).flatMap((a) => a.users ?? [])]
      .some((u) => u.user === n && u.nkey === undefined);
    if (!any) errors.push({ path: ["no_auth_user"], message: `no_auth_user: "${n}" is set, but no users are defined` });
    else if (!isPlainUser) {
      errors.push({ path: ["no_auth_user"], message: `no_auth_user: "${n}" is not a user in the authorization block or in an account` });
    }
  }
  return { layer, errors };
}

interface Edge {
  importer: string;
  index: number;
  kind: "stream" | "service";
  exporter: string;
  /** Subject in the exporter's space. */
  from: string;
  /** Subject in the importer's space. */
  local: string;
}

/** The subject an import lands on in the importer's account. */
function localSubject(i: AccountImport): string {
  if (i.stream) return i.prefix !== undefined ? `${i.prefix}.${i.stream.subject}` : (i.to ?? i.stream.subject);
  const s = i.service as { subject: string };
  return i.to ?? s.subject;
}

/** References between accounts: defined accounts, imports authorized by an export, no cycles. */
function crossCheck(accounts: AccountsOptions): PathError[] {
  const errors: PathError[] = [];
  const names = new Set(Object.keys(accounts));
  for (const [name, acc] of Object.entries(accounts)) {
    (acc.exports ?? []).forEach((e, i) => {
      for (const a of e.accounts ?? []) {
        if (!names.has(a)) {
          const kind = e.stream !== undefined ? "stream" : "service";
          errors.push({ path: ["accounts", name, "exports", i], message: `accounts.${name}.exports[${i}]: account "${a}" is not defined (${kind} export)` });
        }
      }
    });
  }
  const edges: Edge[] = [];
  for (const [name, acc] of Object.entries(accounts)) {
    (acc.imports ?? []).forEach((imp, i) => {
      const path: ConfPath = ["accounts", name, "imports", i];
      const kind = imp.stream ? "stream" : "service";
      const src = (imp.stream ?? imp.service) as { account: string; subject: string };
      const exporter = accounts[src.account];
      if (exporter === undefined) {
        errors.push({ path, message: `${label(path)}: account "${src.account}" is not defined (${kind} import)` });
        return;
      }
      const authorized = (exporter.exports ?? []).some((e) => {
        const subject = kind === "stream" ? e.stream : e.service;
        if (subject === undefined) return false;
        if (e.accounts !== undefined && !e.accounts.includes(name)) return false;
        return subjectIsSubsetOf(src.subject, subject);
      });
      if (!authorized && src.account !== name) {
        errors.push({
          path,
          message: `${label(path)}: ${kind} import "${src.subject}" from account "${src.account}" is not authorized: no ${kind} export of "${src.account}" covers it for account "${name}"`,
        });
        return;
      }
      edges.push({ importer: name, index: i, kind, exporter: src.account, from: src.subject, local: localSubject(imp) });
    });
  }
  // Cycles, per kind, in file order: an import closes a cycle when following the exporter's own imports of
  // overlapping subjects leads back to the importer (nats-server refuses it: "import forms a cycle").
  const accepted: Edge[] = [];
  for (const e of edges) {
    if (e.exporter !== e.importer && formsCycle(e, accepted)) {
      const path: ConfPath = ["accounts", e.importer, "imports", e.index];
      errors.push({ path, message: `${label(path)}: ${e.kind} import "${e.from}" from account "${e.exporter}" forms a cycle` });
      continue;
    }
    accepted.push(e);
  }
  return errors;
}

function formsCycle(edge: Edge, accepted: readonly Edge[]): boolean {
  const visited = new Set<string>();
  const walk = (account: string, subject: string): boolean => {
    for (const e of accepted) {
      if (e.kind !== edge.kind || e.importer !== account || e.exporter === account) continue;
      if (!subjectsIntersect(subject, e.local)) continue;
      if (e.exporter === edge.importer) return true;
      const key = `${e.exporter}\u0000${e.from}`;
      if (visited.has(key)) continue;
      visited.add(key);
      if (walk(e.exporter, e.from)) return true;
    }
    return false;
  };
  return walk(edge.exporter, edge.from);
}

/**
 * The same checks for options built in code (the embedding API skips the file path): shape, reserved and
 * undefined names, users unique across accounts, imports authorized and acyclic. Problems as printable text.
 */
export function checkAccountsOptions(o: { accounts?: unknown; system_account?: string }): string[] {
  const out: string[] = [];
  if (o.accounts !== undefined) {
    const parsed = schemas().accountOptions.accountsOptionsSchema.safeParse(o.accounts);
    if (!parsed.success) {
      return parsed.error.issues.map((i) => `accounts.${i.path.map(String).join(".")}: ${i.message}`);
    }
    const accounts = parsed.data;
    if (Object.hasOwn(accounts, GLOBAL_ACCOUNT)) out.push(`accounts: "${GLOBAL_ACCOUNT}" is a reserved account`);
    const seen = new Map<string, string>();
    for (const [name, acc] of Object.entries(accounts)) {
      for (const u of acc.users ?? []) {
        const prev = seen.get(u.user);
        if (prev !== undefined) out.push(`accounts.${name}.users: duplicate user "${u.user}" (already defined in account "${prev}")`);
        seen.set(u.user, name);
      }
    }
    out.push(...crossCheck(accounts).map((e) => e.message));
  }
  const sys = o.system_account;
  if (sys !== undefined && sys !== DEFAULT_SYSTEM_ACCOUNT) {
    const names = typeof o.accounts === "object" && o.accounts !== null ? Object.keys(o.accounts) : [];
    if (!names.includes(sys)) out.push(`system_account: account "${sys}" is not defined in accounts`);
  }
  return out;
}
