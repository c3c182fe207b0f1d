/**
 * The store lock of NATS Streaming's fault-tolerance mode: a lock file (`ft.lck`) in the shared store
 * directory, created exclusively and holding its owner's token. The owner touches it while active; a lock file
 * not touched for `staleMs` belongs to a server that died (no process-held lock survives a SIGKILL portably
 * across Node, Bun and Deno), so another server may replace it — claimed by renaming it away first, so two
 * servers cannot both take over the same stale file.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface StoreLock {
  tryLock(): boolean;
  refresh(): boolean;
  release(): void;
}

function read(p: string): string | undefined {
  try {
    return fs.readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
}

export function storeLock(dir: string, owner: string, staleMs: number): StoreLock {
  const file = path.join(dir, "ft.lck");
  const create = (): boolean => {
    try {
      fs.writeFileSync(file, owner, { flag: "wx" });
      return true;
    } catch (err) {
      if ((err as { code?: string }).code === "EEXIST") return false;
      throw err;
    }
  };
  return {
    tryLock() {
      fs.mkdirSync(dir, { recursive: true });
      if (create()) return true;
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch {
        return create();
      }
      if (Date.now() - st.mtimeMs < staleMs) return false;
      const seen = read(file);
      const claimed = `${file}.${owner}`;
      try {
        fs.renameSync(file, claimed);
      } catch {
        return false;
      }
      if (read(claimed) !== seen) {
        // Another server replaced the stale lock between our look and our claim: give its lock back.
        try {
          fs.renameSync(claimed, file);
        } catch { /* it is gone: nothing to give back */ }
        return false;
      }
      fs.rmSync(claimed, { force: true });
      return create();
    },
    refresh() {
      if (read(file) !== owner) return false;
      const now = new Date();
      try {
        fs.utimesSync(file, now, now);
        return true;
      } catch {
        return false;
      }
    },
    release() {
      if (read(file) === owner) fs.rmSync(file, { force: true });
    },
  };
}
