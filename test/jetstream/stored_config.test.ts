/**
 * A restart recovers the stream and consumer configs Petrel stored without JetStream's zod schemas
 * (src/jetstream/stored_config.ts): a restart that only reads answers with the schemas never loaded (zod costs
 * ~12 MB resident on Deno), a malformed stored config stops start-up naming the stream, and the structural
 * check's defaults stay in step with the schemas'.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import process from "node:process";
import { type RunningServer, startServer } from "../helpers/servers.ts";
import { connectReady } from "../helpers/raw.ts";
import { jsSchemas, loadJsSchemas } from "../../src/jetstream/schemas_on_demand.ts";
import { checkStoredConsumerConfig, checkStoredStreamConfig } from "../../src/jetstream/stored_config.ts";

declare const Deno: { execPath(): string } | undefined;
const PROBE = path.join(import.meta.dirname ?? ".", "fixtures", "restart_probe.ts");

/** Runs the probe in a fresh process of this runtime on store `dir`; its one JSON line. */
function probe(dir: string): Promise<Record<string, unknown>> {
  const [cmd, args] = typeof Deno !== "undefined"
    ? [Deno.execPath(), ["run", "-A", PROBE, dir]]
    : [process.execPath, ["run", PROBE, dir]];
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      const line = stdout.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`probe printed ${JSON.stringify(stdout)}; stderr ${stderr}`));
      }
    });
  });
}

describe("stored configs recovered without zod", () => {
  let dir: string;
  let server: RunningServer | undefined;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "petrel-stored-config-"));
    server = await startServer("petrel", { args: ["-js", "-sd", dir] });
    const { c } = await connectReady(server.port);
    const msg = "hello";
    await c.send(
      "SUB r.> 1\r\n" +
        `PUB $JS.API.STREAM.CREATE.S r.1 ${JSON.stringify({ name: "S", subjects: ["s.>"] }).length}\r\n` +
        `${JSON.stringify({ name: "S", subjects: ["s.>"] })}\r\n`,
    );
    await c.readUntil("MSG r.1", 10_000);
    const cons = JSON.stringify({ stream_name: "S", config: { durable_name: "C", ack_policy: "explicit" } });
    await c.send(`PUB $JS.API.CONSUMER.DURABLE.CREATE.S.C r.2 ${cons.length}\r\n${cons}\r\nPUB s.a r.3 ${msg.length}\r\n${msg}\r\n`);
    await c.readUntil(/MSG r\.3 [^\r]*\r\n[^\r]*"seq":1/, 10_000);
    c.close();
    await server.stop();
    server = undefined;
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a restart answers STREAM.INFO, CONSUMER.INFO, NAMES, MSG.GET and INFO with the schemas not loaded", async () => {
    const out = await probe(dir);
    const a = out.answers as Record<string, Record<string, unknown>>;
    assert.ok(a, JSON.stringify(out));
    assert.equal((a["r.0"].state as { messages: number }).messages, 1, JSON.stringify(a["r.0"]));
    assert.deepEqual((a["r.0"].config as { subjects: string[] }).subjects, ["s.>"]);
    assert.equal((a["r.1"].config as { ack_policy: string }).ack_policy, "explicit", JSON.stringify(a["r.1"]));
    assert.deepEqual(a["r.2"].streams, ["S"]);
    assert.equal((a["r.3"].message as { subject: string }).subject, "s.a", JSON.stringify(a["r.3"]));
    assert.equal(a["r.4"].streams, 1, JSON.stringify(a["r.4"]));
    assert.equal(out.loaded, false);
  });

  it("a malformed stored config stops start-up naming the stream", async () => {
    const file = path.join(dir, "jetstream", "$G", "streams", "S", "meta", "config.json");
    const saved = JSON.parse(fs.readFileSync(file, "utf8"));
    saved.config.max_msgs = "many";
    fs.writeFileSync(file, JSON.stringify(saved));
    const out = await probe(dir);
    assert.match(String(out.error), /stored config of stream 'S'.*malformed: max_msgs/, JSON.stringify(out));
  });

  it("fills the schemas' defaults and takes what they output", async () => {
    await loadJsSchemas();
    const { streamConfigSchema, consumerConfigSchema } = jsSchemas();
    // An older store may lack a field the schema defaults: filled as the schema would.
    assert.deepEqual(checkStoredStreamConfig({ name: "X" }), { config: streamConfigSchema.parse({ name: "X" }) });
    assert.deepEqual(checkStoredConsumerConfig({}), { config: consumerConfigSchema.parse({}) });
    const full = streamConfigSchema.parse({
      name: "F", subjects: null, sources: [{ name: "A" }], metadata: { k: "v" }, republish: { dest: "d" }, first_seq: 5,
    });
    assert.deepEqual(checkStoredStreamConfig(full), { config: full });
    const cons = consumerConfigSchema.parse({ durable_name: "D", backoff: [1, 2], filter_subjects: ["a", "b"] });
    assert.deepEqual(checkStoredConsumerConfig(cons), { config: cons });
    assert.ok("error" in checkStoredStreamConfig({ name: "X", retention: "forever" }));
    assert.ok("error" in checkStoredConsumerConfig({ backoff: ["1s"] }));
    assert.ok("error" in checkStoredStreamConfig([]));
  });
});
