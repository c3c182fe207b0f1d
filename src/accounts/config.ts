/**
 * The `accounts {}` configuration as the runtime reads it (nats-server's shape, see the brief's contract):
 * which accounts exist, the users bound to each, and their exports and imports. Read through a narrow, tolerant
 * view of `options.accounts`, so the runtime works whatever else the config layer keeps there.
 */
import type { PermissionsConfig } from "../server/permissions.ts";
import type { AccountConfig } from "./config_schema.ts";
import { schemas } from "../config/schemas_on_demand.ts";

export type { AccountConfig, AccountExportConfig, AccountImportConfig, AccountUserConfig } from "./config_schema.ts";

/** A user of some account, as authentication sees it. */
export interface AccountUser {
  user: string;
  password?: string;
  nkey?: string;
  permissions?: PermissionsConfig;
  account: string;
}

/** The accounts section of the options, when it has the contract's shape; entries that do not are errors. */
export function accountsOf(options: object): Map<string, AccountConfig> {
  const raw = (options as { accounts?: unknown }).accounts;
  const out = new Map<string, AccountConfig>();
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== "object" || Array.isArray(raw)) throw new Error("accounts: expected a map of account name to account");
  for (const [name, value] of Object.entries(raw)) {
    // nats-server accepts `A: {}` and a bare `A` (no users); both mean an empty account.
    const r = schemas().accountConfig.accountSchema.safeParse(value ?? {});
    if (!r.success) throw new Error(`accounts.${name}: ${r.error.issues[0]?.message ?? "invalid account"}`);
    out.set(name, r.data);
  }
  return out;
}

/** The system account's name (`system_account`, `$SYS` by default). */
export function systemAccountOf(options: object): string | undefined {
  const v = (options as { system_account?: unknown }).system_account;
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Every user declared inside an account, bound to it. */
export function accountUsers(accounts: Map<string, AccountConfig>): AccountUser[] {
  const out: AccountUser[] = [];
  for (const [account, a] of accounts) {
    for (const u of a.users ?? []) {
      const name = u.user ?? u.nkey;
      if (name === undefined) continue;
      out.push({ user: name, password: u.password, nkey: u.nkey, permissions: u.permissions as PermissionsConfig | undefined, account });
    }
  }
  return out;
}
