/**
 * Serverless entry: Petrel as a fetch handler, for hosts that give no raw TCP.
 *
 *   deno serve -A --port 8080 serve.ts        PORT=8080 bun run serve.ts
 *
 * Clients connect over WebSocket (`wsconnect`, any path); every other request is monitoring (/varz,
 * /connz, /healthz...) on the same port. Options: $PETREL_ARGS takes nats-server flags as mod.ts does
 * ("-c petrel.conf -js"), $PETREL_CONFIG is a shortcut for "-c <file>". The `websocket {}` block gives the
 * origin policy and compression; the host gives the address. State (and JetStream storage, from the
 * configured adapter) lives in this process.
 *
 * The default export is these platforms' convention for a fetch application, so it lives here only;
 * mod.ts keeps named exports. Embedders use `createServerlessBroker` from transports/ws_serverless.ts.
 */
import { defaultExtensions } from "./adapters/extensions.ts";
import { currentRuntime } from "./adapters/runtime/index.ts";
import { createLogger } from "./src/log/logger.ts";
import { createServerlessBroker, prepareServerlessOptions, serverlessOptions } from "./transports/ws_serverless.ts";

const rt = currentRuntime();
const env = { args: rt.env("PETREL_ARGS"), config: rt.env("PETREL_CONFIG") };
await prepareServerlessOptions(env);
const loaded = serverlessOptions(
  env,
  { readFile: (p) => rt.readTextFileSync(p), env: (n) => rt.env(n) },
);
if (!loaded.ok) throw new Error(`petrel serve: ${loaded.error}`);
const options = loaded.value;
const logger = createLogger({
  debug: options.debug,
  trace: options.trace,
  logtime: options.logtime,
  pid: rt.pid,
  write: (line) => rt.writeStderr(line),
});
for (const w of loaded.warnings) logger.warn(w);
const { app } = await createServerlessBroker(options, {
  logger,
  transport: rt.tcp,
  extensions: defaultExtensions(options, rt),
});

export default app;
