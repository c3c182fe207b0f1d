// The Deno adapter's next turns (adapters/runtime/message_turns.ts): one MessageChannel for every turn, in order,
// a cancelled turn never runs, a turn asked for from a turn runs on a later one. MessageChannel is a web API of
// both runtimes: the same checks run on Bun.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { messageChannelTurns } from "../../adapters/runtime/message_turns.ts";

describe("message-channel turns", () => {
  it("run in order after the current task, never a cancelled one, and one asked from a turn on a later turn", async () => {
    const soon = messageChannelTurns();
    const ran: string[] = [];
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => (done = r));
    soon(() => {
      ran.push("a");
      soon(() => {
        ran.push("c");
        done();
      });
    });
    soon(() => ran.push("x")).cancel();
    soon(() => ran.push("b"));
    ran.push("sync");
    await Promise.resolve();
    ran.push("microtask");
    await finished;
    assert.deepEqual(ran, ["sync", "microtask", "a", "b", "c"]);
  });
});
