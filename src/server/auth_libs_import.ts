/**
 * The imports of the signature and password libraries, apart from auth_libs.ts (which every start loads, as
 * auth.ts and server.ts use it): Deno and Bun resolve the npm package of every `import("pkg")` in a module they
 * load, called or not (package.json reads, node_modules listings): ~40 page faults and 0.3-0.6 MB of idle RSS on
 * each runtime for two packages a start without users never uses (bench/RESULTS.md, "start4"). Loaded only by
 * loadAuthLibs, this module keeps such a start from resolving nkeys and bcryptjs at all, while `deno compile` and
 * `bun build` still see the literal specifiers.
 */
import type { AuthLibs } from "./auth_libs.ts";

export async function importAuthLibs(): Promise<AuthLibs> {
  const [nkeys, bcrypt, operator] = await Promise.all([import("@nats-io/nkeys"), import("bcryptjs"), import("../jwt/operator.ts")]);
  return { nkeys, bcrypt: bcrypt.default, operator };
}
