/**
 * The imports of the signature and password libraries, apart from auth_libs.ts (which every start loads, as
 * auth.ts and server.ts use it): Deno resolves the npm package of every `import("pkg")` it finds in a module
 * it loads, dynamic or not, and the first npm resolution of a process costs ~9 ms of CPU at start-up on Deno
 * (bench/RESULTS.md, "start4"). Loaded only by loadAuthLibs, this module keeps a start without users from
 * resolving nkeys and bcryptjs at all, while `deno compile` and `bun build` still see the literal specifiers.
 */
import type { AuthLibs } from "./auth_libs.ts";

export async function importAuthLibs(): Promise<AuthLibs> {
  const [nkeys, bcrypt, operator] = await Promise.all([import("@nats-io/nkeys"), import("bcryptjs"), import("../jwt/operator.ts")]);
  return { nkeys, bcrypt: bcrypt.default, operator };
}
