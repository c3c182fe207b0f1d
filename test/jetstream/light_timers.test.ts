/**
 * JetStream's own timers are light timers (src/runtime/light_timers.ts): on Deno 2.9 the first runtime
 * setTimeout loads Node's timer layer for the life of the process (+2-3 MB RSS; bench/RESULTS.md `denomem`,
 * `denotimers`). A light timer does not keep the process alive: a server's listeners do, and stop() flushes
 * the consumer states still waiting.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { api, pub, startEngine } from "./helpers.ts";
import { waitFor } from "../helpers/servers.ts";
import { FileStorage } from "../../adapters/storage/file_store.ts";
import { lightTimersPending } from "../../src/runtime/light_timers.ts";

describe("JetStream timers on the light timers", () => {
  it("a stream's max_age timer is one light timer, cancelled when the stream is deleted", async () => {
    const { bus, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.AGE", { name: "AGE", subjects: ["age"], max_age: 60_000_000_000 });
      const before = lightTimersPending();
      await pub(bus, "age", "x");
      assert.equal(lightTimersPending(), before + 1, "the first message arms the age timer as a light timer");
      const del = await api(bus, "$JS.API.STREAM.DELETE.AGE");
      assert.equal(del.success, true);
      assert.equal(lightTimersPending(), before, "deleting the stream cancels it");
    } finally {
      js.stop();
    }
  });

  it("the consumer-state flush is a light timer that saves the state when it fires", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-js-light-"));
    const storage = new FileStorage(dir, 0, "$G");
    const { bus, js } = startEngine(storage);
    try {
      await api(bus, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s"] });
      const r = await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.S.C", { stream_name: "S", config: { durable_name: "C", ack_policy: "explicit" } });
      assert.equal(r.error, undefined);
      await pub(bus, "s", "x");
      const c = js.consumers.get("S")?.get("C");
      assert.ok(c !== undefined, "the consumer exists");
      // Wait for any flush the set-up scheduled, then make the consumer's state dirty once more.
      await waitFor("no flush pending", () => !(js as unknown as { flushTimer?: unknown }).flushTimer, 5000, 5);
      const before = lightTimersPending();
      js.persist(c);
      assert.equal(lightTimersPending(), before + 1, "the flush is scheduled as a light timer");
      js.persist(c);
      assert.equal(lightTimersPending(), before + 1, "one flush for every change until it runs");
      await waitFor("the flush ran", () => lightTimersPending() === before, 5000, 5);
      assert.ok(storage.getMeta("S", "c.C") !== undefined, "the consumer's state is saved");
    } finally {
      js.stop();
      storage.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a consumer's timers (here a pull request's expiry) are light timers", async () => {
    const { bus, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.P", { name: "P", subjects: ["p"] });
      await api(bus, "$JS.API.CONSUMER.DURABLE.CREATE.P.C", { stream_name: "P", config: { durable_name: "C", ack_policy: "explicit" } });
      await waitFor("no flush pending", () => !(js as unknown as { flushTimer?: unknown }).flushTimer, 5000, 5);
      const before = lightTimersPending();
      bus.subscribe("inbox.1", () => {});
      bus.publish("$JS.API.CONSUMER.MSG.NEXT.P.C", new TextEncoder().encode(JSON.stringify({ batch: 1, expires: 60_000_000_000 })), { reply: "inbox.1" });
      await waitFor("the pull request's expiry is armed", () => lightTimersPending() === before + 1, 5000, 5);
    } finally {
      js.stop();
    }
  });
});
