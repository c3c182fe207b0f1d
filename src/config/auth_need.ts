/**
 * Can a configuration file's text need the signature and password libraries (nkeys, bcryptjs, the operator JWT
 * code; see server/auth_libs.ts)? They cost a server started from a config file ~7.6 MB RSS on Deno, and most
 * files name no nkey user, no bcrypt hash and no operator. The answer errs towards yes: anything the text could
 * bring in from elsewhere (an include, a $VARIABLE that may hold a bcrypt hash) counts as a need, so a miss is
 * not possible short of a key this list does not know; a false yes only costs the memory.
 */

/** Words and forms that can lead to nkeys, bcrypt or operator JWTs (case-insensitive). */
const NEEDS = /nkey|operator|trusted|resolver|include|jwt|\$2|\$\{?[A-Za-z_]/i;

export function configMayNeedAuthLibs(text: string): boolean {
  return NEEDS.test(text);
}
