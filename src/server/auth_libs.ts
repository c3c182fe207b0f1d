/**
 * The signature and password libraries (nkeys with tweetnacl, bcryptjs) and the operator-mode JWT code, loaded
 * only when a configuration can use them: they and the crypto module they pull in cost an idle server several MB
 * and milliseconds it does not need with no users, or only plain passwords. Loaded together with the schemas
 * (loadSchemas: a config file that may name them, startPetrel) and by the command line when a credential it sets
 * is a bcrypt hash (secretNeedsAuthLibs); a use before that is a bug and throws (outside the callers' own error
 * handling, so it cannot pass as a failed login).
 */
import type * as Nkeys from "@nats-io/nkeys";
import type Bcrypt from "bcryptjs";
import type * as Operator from "../jwt/operator.ts";

export interface AuthLibs {
  readonly nkeys: typeof Nkeys;
  readonly bcrypt: typeof Bcrypt;
  readonly operator: typeof Operator;
}

let loaded: AuthLibs | undefined;

export async function loadAuthLibs(): Promise<void> {
  if (loaded !== undefined) return;
  // A module of its own: a start that never calls this must not name the npm packages (auth_libs_import.ts).
  loaded = await (await import("./auth_libs_import.ts")).importAuthLibs();
}

/** Have the libraries been loaded (tests: a start with plain credentials loads none)? */
export function authLibsLoaded(): boolean {
  return loaded !== undefined;
}

/**
 * Does a password or token given as it is (flags, code) need a library to be checked? Only a bcrypt hash does
 * (`$2a$`/`$2b$`/`$2y$`, auth.ts' secretMatches; plain.ts asks this of a file's values too): a plain password
 * is compared in auth.ts itself. On Deno the libraries and the crypto module they pull in are ~15 MB of an idle
 * server's RSS (a `--user/--pass` start idled at 60-63 MB against 45-48 from a file with the same user).
 */
export function secretNeedsAuthLibs(secret: string | undefined): boolean {
  return secret !== undefined && secret.startsWith("$2");
}

export function authLibs(): AuthLibs {
  if (loaded === undefined) throw new Error("bug: nkeys, bcrypt or JWTs used before loadAuthLibs()");
  return loaded;
}
