/**
 * The imports of the signature and password libraries, apart from auth_libs.ts (which every start loads, as
 * auth.ts, server.ts and the config file's load.ts import it): Deno resolves the npm package of every
 * `import("pkg")` in a module it loads, called or not (each package.json read and its entry file looked up before
 * the client port is bound), which kept a plain start ~0.5-0.8 MB larger for two packages it never uses
 * (bench/RESULTS.md, "start4"; Bun reads neither package at start either way). Loaded only by loadAuthLibs, this
 * module keeps such a start from resolving nkeys and bcryptjs, while `deno compile` and `bun build` still see the
 * literal specifiers.
 */
import type { AuthLibs } from "./auth_libs.ts";

export async function importAuthLibs(): Promise<AuthLibs> {
  const [nkeys, bcrypt, operator] = await Promise.all([import("@nats-io/nkeys"), import("bcryptjs"), import("../jwt/operator.ts")]);
  return { nkeys, bcrypt: bcrypt.default, operator };
}
