// The typed, validated account options the server runs with (`ServerOptions.accounts`), as zod schemas so
// the types come from them and an embedder can check hand-written options with the same schemas.
// Produced from `accounts {}` in a conf or YAML file by accounts.ts; consumed by src/accounts/.

import { z } from "zod";

export const subjectPermissionOptionsSchema = z.object({
  allow: z.array(z.string()).optional(),
  deny: z.array(z.string()).optional(),
});

export const permissionsOptionsSchema = z.object({
  publish: subjectPermissionOptionsSchema.optional(),
  subscribe: subjectPermissionOptionsSchema.optional(),
  /** Reply-subject permissions; `expires` in ms (0 = no expiry). */
  allow_responses: z.object({ max: z.number(), expires: z.number() }).optional(),
});

/** A user, in `authorization.users` or in an account's `users`. */
export const userEntrySchema = z.object({
  /** The user name; for an nkey user, its public key ("U..."). */
  user: z.string(),
  password: z.string().optional(),
  /** Public nkey ("U..."): the client proves it by signing the INFO nonce. */
  nkey: z.string().optional(),
  permissions: permissionsOptionsSchema.optional(),
});

import { RESPONSE_TYPES } from "./account_names.ts";

export { DEFAULT_RESPONSE_THRESHOLD_MS, DEFAULT_SYSTEM_ACCOUNT, GLOBAL_ACCOUNT, RESPONSE_TYPES } from "./account_names.ts";

/** Exactly one of `stream` / `service`. No `accounts` = public export. */
export const accountExportSchema = z.object({
  stream: z.string().optional(),
  service: z.string().optional(),
  /** Accounts allowed to import; absent = any account. */
  accounts: z.array(z.string()).optional(),
  /** Services only; defaults to "singleton". */
  response_type: z.enum(RESPONSE_TYPES).optional(),
  /** Services only; ms; defaults to 120000. */
  response_threshold: z.number().optional(),
});

const importSource = z.object({ account: z.string(), subject: z.string() });

/**
 * Exactly one of `stream` / `service`. Stream imports: `prefix` (local subject = prefix + "." + subject) or
 * `to` (local subject, with the same wildcards); service imports: `to` = the local subject requesters use
 * (absent = same as `service.subject`).
 */
export const accountImportSchema = z.object({
  stream: importSource.optional(),
  service: importSource.optional(),
  prefix: z.string().optional(),
  to: z.string().optional(),
});

/** Per-account JetStream limits; -1 = unlimited / decided by the server. */
export const accountJetStreamSchema = z.object({
  max_mem: z.number(),
  max_file: z.number(),
  max_streams: z.number(),
  max_consumers: z.number(),
});

// The arrays are optional (the contract's shape, and what options written in code look like); options read from
// a file always have all three.
export const accountOptionsSchema = z.object({
  users: z.array(userEntrySchema).optional(),
  exports: z.array(accountExportSchema).optional(),
  imports: z.array(accountImportSchema).optional(),
  /** Absent = JetStream disabled for this account; `jetstream: enabled` = all limits -1. */
  jetstream: accountJetStreamSchema.optional(),
});

/** Keyed by account name (never "$G"). */
export const accountsOptionsSchema = z.record(z.string(), accountOptionsSchema);

export type SubjectPermission = z.infer<typeof subjectPermissionOptionsSchema>;
export type Permissions = z.infer<typeof permissionsOptionsSchema>;
export type UserEntry = z.infer<typeof userEntrySchema>;
export type ResponseType = (typeof RESPONSE_TYPES)[number];
export type AccountExport = z.infer<typeof accountExportSchema>;
export type AccountImport = z.infer<typeof accountImportSchema>;
export type AccountJetStreamLimits = z.infer<typeof accountJetStreamSchema>;
export type AccountOptions = z.infer<typeof accountOptionsSchema>;
export type AccountsOptions = z.infer<typeof accountsOptionsSchema>;

