/** The full resolver's directory of account JWTs, with node:fs (the same on Bun and Deno). */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JwtStore } from "../src/jwt/store.ts";

const ACCOUNT_FILE = /^(A[A-Z2-7]{55})\.jwt$/;

export function createDirJwtStore(dir: string): JwtStore {
  return {
    load() {
      const out: Record<string, string> = {};
      if (!existsSync(dir)) return out;
      for (const name of readdirSync(dir)) {
        const m = ACCOUNT_FILE.exec(name);
        if (m !== null) out[m[1]] = readFileSync(join(dir, name), "utf8").trim();
      }
      return out;
    },
    save(account, jwt) {
      if (!/^A[A-Z2-7]{55}$/.test(account)) throw new Error(`not an account public key: ${account}`);
      mkdirSync(dir, { recursive: true });
      // write then rename: a crash never leaves half a JWT behind
      const tmp = join(dir, `${account}.jwt.tmp`);
      writeFileSync(tmp, jwt);
      renameSync(tmp, join(dir, `${account}.jwt`));
    },
  };
}
