/**
 * Guards the idle footprint: what `mod.ts` imports statically is what every plain start pays for, on both
 * runtimes (Bun loads and transpiles it, Deno too, even when only Bun code uses a module). Node compatibility
 * modules are the expensive part (node:fs alone is +3.4 MB RSS on Bun and +8 MB on Deno, node:process +4.5 MB
 * on Deno), then npm packages (zod, yaml, nkeys). Anything a configuration may not use is imported dynamically
 * where it is needed (adapters/extensions.ts, src/config/schemas_on_demand.ts, mod.ts's JWT directory store).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(dirname(new URL(import.meta.url).pathname), "..", "..");

/** Value imports and re-exports of one module (type-only ones are erased by both runtimes' transpilers). */
export function staticImports(source: string): string[] {
  const out: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*["']([^"']+)["']|^\s*import\s+["']([^"']+)["']/gm;
  for (const m of source.matchAll(re)) {
    if (m[5] !== undefined) {
      out.push(m[5]);
      continue;
    }
    if (m[2] !== undefined) continue; // import type / export type
    const clause = m[3];
    const named = /^\{([^}]*)\}$/s.exec(clause.trim());
    if (named !== null) {
      const names = named[1].split(",").map((s) => s.trim()).filter((s) => s !== "");
      if (names.length > 0 && names.every((n) => n.startsWith("type "))) continue;
    }
    out.push(m[4]);
  }
  return out;
}

/** package.json's `imports` (`#runtime-adapter`: one target per runtime condition). */
const subpathImports = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).imports as Record<string, Record<string, string>>;

/**
 * The static import graph from `entry`: our files, and the outside modules they name. A `#` specifier is followed
 * to the target package.json's `imports` gives it for `runtime`'s condition; without a runtime it is not followed.
 */
function graph(entry: string, runtime?: "bun" | "deno"): { files: Set<string>; outside: Map<string, string> } {
  const files = new Set<string>();
  const outside = new Map<string, string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of staticImports(readFileSync(join(root, file), "utf8"))) {
      if (spec.startsWith(".")) visit(join(dirname(file), spec));
      else if (spec.startsWith("#") && subpathImports[spec] !== undefined) {
        if (runtime !== undefined) visit(join(subpathImports[spec][runtime]));
      } else if (!outside.has(spec)) outside.set(spec, file);
    }
  };
  visit(entry);
  return { files, outside };
}

describe("what a plain start loads", () => {
  it("reads value imports, skips type-only ones", () => {
    const src = [
      `import { a } from "./a.ts";`,
      `import type { B } from "./b.ts";`,
      `import { type C, type D } from "./c.ts";`,
      `import { type E, f } from "./e.ts";`,
      `import {\n  g,\n  h,\n} from "node:fs";`,
      `export { i } from "./i.ts";`,
      `export type { J } from "./j.ts";`,
      `import "./side.ts";`,
      `const lazy = () => import("./lazy.ts");`,
    ].join("\n");
    assert.deepEqual(staticImports(src), ["./a.ts", "./e.ts", "node:fs", "./i.ts", "./side.ts"]);
  });

  it("mod.ts imports no node:, bun: or npm module statically", () => {
    const { files, outside } = graph("mod.ts");
    assert.ok(files.has("src/server/server.ts") && files.has("adapters/runtime/index.ts"), "the graph was walked");
    // adapters/runtime/index.ts loads the one runtime adapter its runtime's condition names (package.json's
    // `#runtime-adapter`): both count, neither loads the other's.
    assert.ok(!files.has("adapters/runtime/bun.ts") && !files.has("transports/tcp_deno.ts"), "no adapter without the condition");
    assert.deepEqual(subpathImports["#runtime-adapter"], {
      bun: "./adapters/runtime/bun.ts",
      deno: "./adapters/runtime/deno.ts",
      default: "./adapters/runtime/unsupported.ts",
    });
    // Deno takes it from deno.json's import map (its resolution of package.json's `imports` cost ~0.6 MB, start6).
    const denoMap = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).imports as Record<string, string>;
    assert.equal(denoMap["#runtime-adapter"], subpathImports["#runtime-adapter"].deno, "deno.json maps the adapter as package.json's deno condition does");
    const onBun = graph("mod.ts", "bun").files, onDeno = graph("mod.ts", "deno").files;
    assert.ok(onBun.has("transports/tcp_bun.ts") && !onBun.has("adapters/runtime/deno.ts") && !onBun.has("transports/tcp_deno.ts"), "Bun: its adapter only");
    assert.ok(onDeno.has("transports/tcp_deno.ts") && !onDeno.has("adapters/runtime/bun.ts") && !onDeno.has("transports/tcp_bun.ts"), "Deno: its adapter only");
    for (const adapter of ["adapters/runtime/bun.ts", "adapters/runtime/deno.ts"]) {
      const a = graph(adapter);
      assert.ok(a.files.size > 2, `${adapter}'s graph was walked`);
      for (const [spec, by] of a.outside) outside.set(spec, by);
    }
    const found = [...outside].map(([spec, by]) => `${spec} (imported by ${by})`);
    assert.deepEqual(found, [], "load these with a dynamic import where they are needed, not at every start");
  });

  it("mod.ts loads the monitoring endpoints, their counters and the system services' work only when first used", () => {
    // A plain start keeps the services' subscriptions (system/services.ts); the counters monitoring keeps from the
    // start (monitor_state.ts: account traffic, closed connections) load with the first connection event, or at
    // start when clients may sign in to accounts (petrel.ts); the endpoints, the HTTP app and the answers/events
    // (system/responder.ts) on demand.
    const { files } = graph("mod.ts");
    assert.ok(files.has("src/system/services.ts") && files.has("src/petrel.ts"), "the graph was walked");
    const lazy = [
      "src/monitor/endpoints.ts", "src/monitor/app.ts", "src/monitor/connz.ts", "src/monitor/varz.ts", "src/system/responder.ts",
      "src/system/events.ts", "src/system/request_options.ts",
      "src/monitor/monitor_state.ts", "src/monitor/account_stats.ts", "src/monitor/closed_connections.ts",
      // the `server` block of system messages: with the responder, or for a SHUTDOWN goodbye someone hears
      "src/system/server_info.ts",
    ];
    assert.deepEqual(lazy.filter((f) => files.has(f)), [], "imported statically from mod.ts");
    assert.match(readFileSync(join(root, "src/petrel.ts"), "utf8"), /import\("\.\/monitor\/monitor_state\.ts"\)/, "petrel.ts loads the counters");
  });

  it("a GET of a monitoring endpoint loads no hono, zod or dashboard code", () => {
    // What a metrics agent polling /varz, /connz, /healthz, /jsz reaches (src/monitor/endpoint_fetch.ts with the
    // endpoints): hono and its router kept ~10 MB resident on Bun, ~7 MB on Deno; the dashboard brings zod.
    const { files, outside } = graph("src/monitor/endpoint_fetch.ts");
    assert.ok(files.has("src/monitor/endpoints.ts") && files.has("src/monitor/connz.ts"), "the graph was walked");
    assert.deepEqual([...outside].map(([spec, by]) => `${spec} (imported by ${by})`), [], "imported on an endpoint's path");
    assert.deepEqual([...files].filter((f) => f.startsWith("src/dashboard/") || f === "src/monitor/app.ts"), [], "on an endpoint's path");
    const petrel = readFileSync(join(root, "src/petrel.ts"), "utf8");
    assert.match(petrel, /import\("\.\/monitor\/endpoint_fetch\.ts"\)/, "petrel.ts serves the endpoints through endpoint_fetch.ts");
  });

  it("a monitoring poll formats its times without Date's formatting code (src/runtime/utc_text.ts)", () => {
    // On Deno the first toISOString / toUTCString pages in ~1.7 MiB of V8's date code that a plain server never
    // needs otherwise: the endpoints (and /jsz's section) and http_lite's date header write times with utc_text.
    const { files } = graph("src/monitor/endpoint_fetch.ts");
    for (const f of graph("transports/http_lite.ts").files) files.add(f);
    files.add("src/jetstream/jsz.ts");
    assert.ok(files.has("src/monitor/format.ts") && files.has("src/runtime/utc_text.ts"), "the graph was walked");
    const onPath = [...files].filter((f) => f === "transports/http_lite.ts" || f === "src/jetstream/jsz.ts" || f.startsWith("src/monitor/"));
    const found = onPath.filter((f) => /\.to(ISO|UTC)String\(/.test(readFileSync(join(root, f), "utf8")));
    assert.deepEqual(found, [], "format times with src/runtime/utc_text.ts on the monitoring path");
  });

  it("a start from flags loads no config-file code, no re-exec, no TLS code and no memory transport", () => {
    // Each module a plain start loads stays resident (Bun: ~80-100 KB RSS each) and costs start-up time (~0.5 ms
    // of CPU each on Bun and on Deno, bench/RESULTS.md "start3"). The config file's parser, checks and readers
    // (layer_from_raw.ts: users, accounts) come with src/cli/load_options.ts when -c names a file
    // (src/cli/start_options.ts), the re-exec with PETREL_REEXEC, the TLS file check with -t, the client TLS
    // handshake and certificate mapping with a TLS listener, the JWT claims updates with a full resolver (both
    // from Server.start); embedders import transports/memory.ts themselves.
    const { files } = graph("mod.ts");
    assert.ok(files.has("src/cli/start_options.ts") && files.has("src/cli/flags.ts"), "the graph was walked");
    const lazy = [
      "src/cli/load_options.ts", "src/config/load.ts", "src/config/conf_parser.ts", "src/config/plain.ts",
      "src/config/leaf_checks.ts", "src/config/layer_from_raw.ts", "src/config/users.ts", "src/config/accounts.ts",
      "src/tls/check.ts", "src/tls/upgrade.ts", "src/tls/map.ts", "src/jwt/claims_update.ts",
      "adapters/runtime/reexec.ts", "adapters/runtime/reexec_plan.ts", "transports/memory.ts",
      // the compiler-thread sweep is set up once clients are taken (mod.ts's main, after petrel.start())
      "adapters/runtime/compiler_threads.ts",
      // a tls {} block's reader with TLS (Server.start), the streaming block's with one (config/normalize.ts), the
      // accounts' exports and imports with configured accounts (the on-demand schemas)
      "src/tls/config.ts", "src/config/streaming.ts", "src/accounts/imports.ts", "src/accounts/transform.ts",
      // clients held while extensions start (Server.start with holdClients; a Petrel without extensions holds none)
      "src/server/held_conns.ts",
    ];
    assert.deepEqual(lazy.filter((f) => files.has(f)), [], "imported statically from mod.ts");
  });

  it("a plain start loads these modules and no others", () => {
    // Every module costs each start ~0.9 ms of CPU on Bun and ~0.5 on Deno on the benchmark host, mostly page
    // faults (bench/RESULTS.md, "start3", "startmods"), and stays resident. A module added to this list is loaded by
    // every plain start: only code a server without accounts, TLS, links, JetStream or monitoring runs before its
    // first client belongs here; anything else is imported where it is first needed.
    const core = [
      "adapters/extensions.ts", "adapters/runtime/index.ts", "mod.ts", "src/accounts/account.ts", "src/accounts/config.ts",
      "src/accounts/queue_policy.ts", "src/accounts/registry.ts", "src/cli/flags.ts", "src/cli/start_options.ts",
      "src/cluster/last_subject.ts", "src/config/account_names.ts", "src/config/defaults.ts", "src/config/normalize.ts",
      "src/config/schemas_on_demand.ts", "src/config/units.ts", "src/log/local_offset.ts", "src/log/logger.ts",
      "src/monitor/accounts_view.ts", "src/petrel.ts", "src/protocol/parser.ts", "src/runtime/clock.ts",
      "src/runtime/light_timers.ts", "src/server/auth.ts", "src/server/auth_libs.ts", "src/server/buffer_pool.ts",
      "src/server/client.ts", "src/server/connect.ts", "src/server/flow.ts", "src/server/ids.ts",
      "src/server/internal.ts", "src/server/keepalive.ts", "src/server/local_msg.ts", "src/server/outbound.ts",
      "src/server/permissions.ts", "src/server/reuse.ts", "src/server/server.ts", "src/server/small_bytes.ts",
      "src/subjects/subject.ts", "src/subjects/sublist.ts", "src/system/services.ts",
      "src/system/subjects.ts",
    ];
    const adapters: Record<string, string[]> = {
      "adapters/runtime/bun.ts": [
        // not src/runtime/utc_text.ts: its switch to Date's own methods is in clock.ts, only monitoring formats times
        "adapters/runtime/bun.ts", "src/runtime/clock.ts", "src/runtime/light_timers.ts", "src/transport/addr.ts",
        "transports/gc_pacer.ts", "transports/read_pacer_bun.ts", "transports/recv_window_bun.ts", "transports/tcp_bun.ts",
        "transports/tls_loader.ts", "transports/write_queue.ts",
      ],
      "adapters/runtime/deno.ts": [
        "adapters/runtime/deno.ts", "adapters/runtime/message_turns.ts", "src/runtime/clock.ts", "src/runtime/light_timers.ts",
        "src/server/small_bytes.ts", "src/transport/addr.ts", "transports/tcp_deno.ts", "transports/tls_loader.ts",
        "transports/write_queue.ts",
      ],
    };
    assert.deepEqual([...graph("mod.ts").files].sort(), core, "mod.ts's static graph changed");
    for (const [adapter, want] of Object.entries(adapters)) {
      assert.deepEqual([...graph(adapter).files].sort(), want, `${adapter}'s static graph changed`);
    }
    // One round of loading: the runtime's adapter is a static import of mod.ts's graph (adapters/runtime/index.ts).
    for (const runtime of ["bun", "deno"] as const) {
      const want = [...new Set([...core, ...adapters[`adapters/runtime/${runtime}.ts`]])].sort();
      assert.deepEqual([...graph("mod.ts", runtime).files].sort(), want, `the plain start on ${runtime} changed`);
    }
  });

  it("a config file's path loads the readers of users, accounts, streaming and TLS blocks only for a file that has them", () => {
    // The benchmarks' file (a port and a monitoring port) needs none of them (layer_from_raw.ts's loadConfigReaders).
    const { files } = graph("src/cli/load_options.ts");
    assert.ok(files.has("src/config/layer_from_raw.ts") && files.has("src/config/load.ts"), "the graph was walked");
    const lazy = ["src/config/users.ts", "src/config/accounts.ts", "src/config/streaming.ts", "src/tls/config.ts"];
    assert.deepEqual(lazy.filter((f) => files.has(f)), [], "imported statically on a config file's path");
  });

  it("no module of a plain start names an npm package, not even in a dynamic import", () => {
    // Deno resolves the package of every import("pkg") in a module it loads, called or not: nkeys and bcryptjs
    // named in auth_libs.ts kept a plain Deno start ~0.5-0.8 MB larger (bench/RESULTS.md, "start4").
    // Such an import goes in a module of its own that is itself imported on demand (src/server/auth_libs_import.ts).
    const { files } = graph("mod.ts");
    for (const adapter of ["adapters/runtime/bun.ts", "adapters/runtime/deno.ts"]) for (const f of graph(adapter).files) files.add(f);
    assert.ok(files.has("src/server/auth_libs.ts"), "the graph was walked");
    const found: string[] = [];
    for (const f of files) {
      for (const m of readFileSync(join(root, f), "utf8").matchAll(/\bimport\(\s*["']([^"']+)["']/g)) {
        const spec = m[1];
        if (!spec.startsWith(".") && !spec.startsWith("node:") && !spec.startsWith("bun:")) found.push(`${spec} (in ${f})`);
      }
    }
    assert.deepEqual(found, [], "move these imports into a module loaded on demand");
  });

  it("what a Deno server loads at start and with JetStream is ASCII, comments too", () => {
    // V8 keeps a module's source for the life of the process, as one byte per character, or two for the whole
    // module when it holds a single character past U+00FF (a dash, a micro sign in a comment). Deno allocates the
    // sources in the young generation, and what survives there counts twice towards growing it: 840 KB of
    // survivors at a config file's start (floor 60 KB) grew Petrel's semi-spaces from 1 to 2 MB before any client
    // (bench/RESULTS.md, "denomem" fifth pass). Write such characters as escapes ("\u00b5s") or in ASCII.
    const files = new Set<string>();
    const entries = ["mod.ts", "adapters/runtime/deno.ts", "src/cli/load_options.ts", "adapters/runtime/compiler_threads.ts", "transports/http_lite.ts", "adapters/storage/jetstream_extension.ts"];
    for (const e of entries) for (const f of graph(e).files) files.add(f);
    assert.ok(files.has("src/server/client.ts") && files.has("src/jetstream/engine.ts") && files.has("src/config/conf_parser.ts"), "the graphs were walked");
    const found: string[] = [];
    for (const f of files) {
      const lines = readFileSync(join(root, f), "utf8").split("\n");
      lines.forEach((line, i) => {
        if (/[^\x00-\x7f]/.test(line)) found.push(`${f}:${i + 1}`);
      });
    }
    assert.deepEqual(found, [], "non-ASCII characters in a module a Deno server loads");
  });

  it("mod.ts reads the re-exec's switch under the name reexec_plan.ts gives it", async () => {
    const { REEXEC_SWITCH } = await import("../../adapters/runtime/reexec_plan.ts");
    assert.match(readFileSync(join(root, "mod.ts"), "utf8"), new RegExp(`const REEXEC_SWITCH = "${REEXEC_SWITCH}";`));
  });

  it("the cluster extension (routes) loads no zod: a cluster node's config file is checked without it too", () => {
    const { files, outside } = graph("src/cluster/extension.ts");
    assert.ok(files.has("src/cluster/route.ts"), "the graph was walked");
    assert.equal(outside.get("zod"), undefined, `zod is imported statically by ${outside.get("zod")}`);
  });

  it("the JetStream extension loads no zod until a schema is needed, and no cluster code unless clustered", () => {
    // zod costs an idle JetStream server ~10 MB on Deno: src/jetstream/schemas_on_demand.ts loads the schemas.
    const { files, outside } = graph("adapters/storage/jetstream_extension.ts");
    assert.ok(files.has("src/jetstream/engine.ts"), "the graph was walked");
    assert.ok(!files.has("src/jetstream/config_schema.ts"), "config_schema.ts is imported statically");
    assert.equal(outside.get("zod"), undefined, `zod is imported statically by ${outside.get("zod")}`);
    // Replicated JetStream (~2.4 MB resident) comes with jetstream_cluster_start.ts, imported by a clustered server.
    for (const f of ["src/jetstream/cluster/controller.ts", "src/raft/node.ts", "adapters/raft/file_storage.ts"]) {
      assert.ok(!files.has(f), `${f} is imported statically by a single JetStream server`);
    }
    const cluster = graph("adapters/storage/jetstream_cluster_start.ts");
    assert.ok(cluster.files.has("src/jetstream/cluster/controller.ts"), "the cluster's graph was walked");
    assert.ok(!cluster.files.has("src/jetstream/config_schema.ts"), "config_schema.ts is imported statically");
    assert.equal(cluster.outside.get("zod"), undefined, `zod is imported statically by ${cluster.outside.get("zod")}`);
  });

  it("a single JetStream server loads no node: module: the file store's calls are Deno's own there (store_fs.ts)", () => {
    // node:fs is +7.5 MB of RSS on Deno (a bare process 34 -> 41.5 MB), node:path and node:os ~2 MB more, paid by
    // every JetStream server they were in.
    const { files, outside } = graph("adapters/storage/jetstream_extension.ts");
    assert.ok(files.has("adapters/storage/file_store.ts") && files.has("adapters/storage/store_fs.ts"), "the graph was walked");
    const node = [...outside].filter(([spec]) => spec.startsWith("node:")).map(([spec, by]) => `${spec} (imported by ${by})`);
    assert.deepEqual(node, [], "imported statically by a single JetStream server");
  });
});
