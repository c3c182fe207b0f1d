/**
 * The signature and password libraries (nkeys with tweetnacl, bcryptjs) and the operator-mode JWT code, loaded
 * only when a configuration can use them: they and the crypto module they pull in cost an idle server several MB
 * and milliseconds it does not need with no users, or only plain passwords. Loaded together with the schemas
 * (loadSchemas: any config file, startPetrel) and by the command line when it sets credentials; a use before
 * that is a bug and throws (outside the callers' own error handling, so it cannot pass as a failed login).
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

export function authLibs(): AuthLibs {
  if (loaded === undefined) throw new Error("bug: nkeys, bcrypt or JWTs used before loadAuthLibs()");
  return loaded;
}
