/**
 * The zod schemas the server needs only when there is a configuration to check: a config file, accounts given
 * in code, account entries read at start-up. zod and the schemas are the largest part of an idle server's
 * memory (about 12 MB on Bun, 10 MB on Deno), so a server started from flags alone never loads them. Whoever can
 * bring such a configuration calls `loadSchemas()` first (the config loader, the embedding API); a schema used
 * before that is a bug and throws. The accounts' exports and imports (accounts/imports.ts, with subject
 * transforms) come with them: only a configuration with accounts links any, and such a configuration is checked
 * by these schemas first (accountsOf), so a server with the global account alone never loads that code.
 */
import type * as AccountOptions from "./account_options.ts";
import type * as AccountConfig from "../accounts/config_schema.ts";
import type * as Validate from "./validate.ts";
import type * as AccountLinks from "../accounts/imports.ts";
import { loadAuthLibs } from "../server/auth_libs.ts";

export interface OnDemandSchemas {
  readonly accountOptions: typeof AccountOptions;
  readonly accountConfig: typeof AccountConfig;
  readonly validate: typeof Validate;
  readonly accountLinks: typeof AccountLinks;
}

let loaded: OnDemandSchemas | undefined;

/**
 * Load the schemas (once; later calls return at once). A configuration may also name nkey users, bcrypt
 * passwords or an operator: their libraries come with the schemas unless the caller knows the configuration
 * names none (`authLibs: false`, a config file's text checked by configMayNeedAuthLibs).
 */
export async function loadSchemas(opts: { authLibs?: boolean } = {}): Promise<void> {
  if (opts.authLibs !== false) await loadAuthLibs();
  if (loaded !== undefined) return;
  const [accountOptions, accountConfig, validate, accountLinks] = await Promise.all([
    import("./account_options.ts"),
    import("../accounts/config_schema.ts"),
    import("./validate.ts"),
    import("../accounts/imports.ts"),
  ]);
  loaded = { accountOptions, accountConfig, validate, accountLinks };
}

/** Have the schemas been loaded (a plain config file loads none)? */
export function schemasLoaded(): boolean {
  return loaded !== undefined;
}

/** The loaded schemas; throws when loadSchemas() was not awaited first (a bug in the caller). */
export function schemas(): OnDemandSchemas {
  if (loaded === undefined) throw new Error("bug: a configuration schema was used before loadSchemas()");
  return loaded;
}
