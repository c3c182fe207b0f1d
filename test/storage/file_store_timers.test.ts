// The file store's periodic sync (sync_interval) runs on a light timer: on Deno the runtime's setInterval loads
// Node's timer layer for the life of the process (+2–3 MB RSS at the end of js-r1-async; bench/RESULTS.md `denomem`).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FileStorage } from "../../adapters/storage/file_store.ts";
import { lightTimersPending } from "../../src/runtime/light_timers.ts";

describe("file store: the periodic sync of sync_interval", () => {
  it("is one light timer that reaches every open stream, rescheduled after each run, cancelled by close()", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-fsync-"));
    const before = lightTimersPending();
    const st = new FileStorage(dir, 20, "$G");
    try {
      assert.equal(lightTimersPending(), before + 1, "the interval is one light timer");
      const b = st.openStream("S") as unknown as { syncInBackground(): void };
      const own = b.syncInBackground.bind(b);
      const reached = new Promise<void>((resolve) => {
        b.syncInBackground = () => {
          own();
          resolve();
        };
      });
      await reached;
      assert.equal(lightTimersPending(), before + 1, "the next run is scheduled");
    } finally {
      st.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(lightTimersPending(), before, "close() cancels it");
  });
});
