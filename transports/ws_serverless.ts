/**
 * The broker as a plain fetch application, for hosts without raw TCP (serverless-style edge platforms,
 * `deno serve`, `Bun.serve`): WebSocket upgrades become NATS clients, every other request is monitoring.
 * State lives in the process; extensions (JetStream with its configured storage adapter, ...) attach as in a
 * normal start-up, except the WebSocket listener, which this fetch application replaces.
 */
import { loadServerOptions, prepareServerOptions } from "../src/cli/load_options.ts";
import { loadSchemas } from "../src/config/schemas_on_demand.ts";
import type { ServerOptions } from "../src/config/schema.ts";
import type { ConfigIO } from "../src/config/types.ts";
import { type Logger, silentLogger } from "../src/log/logger.ts";
import { createMonitorApp } from "../src/monitor/app.ts";
import type { ExtensionHandle, PetrelExtension, PetrelServices } from "../src/petrel.ts";
import { Server } from "../src/server/server.ts";
import type { Transport } from "../src/transport/types.ts";
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  type WebSocketSettings,
  webSocketSettingsFor,
} from "../src/websocket/settings.ts";
import { websocketVarz } from "../src/websocket/varz.ts";
import { type WebSocketFetchApp, webSocketFetchApp } from "./ws.ts";

export interface ServerlessBroker {
  server: Server;
  /** `{ fetch, websocket }`: what `deno serve` and `Bun.serve` take. */
  app: WebSocketFetchApp;
  stop(): Promise<void>;
}

export interface ServerlessDeps {
  logger?: Logger;
  /** Started after the server, as Petrel.start does; one named "websocket" is skipped (the app replaces it). */
  extensions?: PetrelExtension[];
  /** Given to extensions; without it, extensions that need TCP fail with a clear error. */
  transport?: Transport;
  memory?: () => number;
}

export async function createServerlessBroker(
  options: ServerOptions,
  deps: ServerlessDeps = {},
): Promise<ServerlessBroker> {
  const logger = deps.logger ?? silentLogger;
  // Options built in code may carry accounts or nkey users: their schemas and libraries load first.
  await loadSchemas();
  // No transport for the server: the only way in is the fetch handler's WebSocket upgrade.
  const server = new Server(options, { logger });
  await server.start();
  const services: PetrelServices = { transport: deps.transport ?? noTcp, logger, memory: deps.memory };
  const handles: ExtensionHandle[] = [];
  for (const ext of deps.extensions ?? []) {
    if (ext.name === "websocket") continue;
    const h = await ext.start(server, { logger, services });
    if (h) handles.push(h);
  }
  const settings = serverlessSettings(options);
  server.monitorSections.set("varz.websocket", () => websocketVarz(settings, settings.port));
  const monitor = createMonitorApp(server, { httpHost: options.http_host, httpPort: 0, memory: deps.memory });
  const app = webSocketFetchApp(settings, (d) => server.acceptConnection(d), (req) => monitor.fetch(req));
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      for (const h of handles.reverse()) await h.stop?.().catch(() => {});
      await server.shutdown();
    })();
  return { server, app, stop };
}

/** The websocket block's policy (origins, compression) if configured, else defaults; the host owns the address. */
export function serverlessSettings(options: ServerOptions): WebSocketSettings {
  const block = options.websocket ?? DEFAULT_BLOCK;
  const s = webSocketSettingsFor({ ...options, websocket: { ...block, port: -1 } });
  if (s === undefined) throw new Error("bug: a websocket block with port -1 yields settings");
  return s;
}

const DEFAULT_BLOCK = {
  host: "0.0.0.0",
  port: -1,
  no_tls: true,
  same_origin: false,
  allowed_origins: [],
  compression: false,
  handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT_MS,
};

const noTcp: Transport = {
  listen: () => Promise.reject(new Error("no raw TCP in serverless mode (cluster, gateway, leafnodes need it)")),
  dial: () => Promise.reject(new Error("no raw TCP in serverless mode (cluster, gateway, leafnodes need it)")),
};

function serverlessArgs(env: { args?: string; config?: string }): string[] {
  const argv = (env.args ?? "").split(/\s+/).filter((a) => a !== "");
  if (env.config !== undefined && env.config !== "") argv.unshift("-c", env.config);
  return argv;
}

/** Load what reading the configuration named by the environment needs (schemas, YAML); before serverlessOptions. */
export function prepareServerlessOptions(env: { args?: string; config?: string }): Promise<void> {
  return prepareServerOptions(serverlessArgs(env));
}

/**
 * Options for the serverless entry, from the environment: PETREL_ARGS holds nats-server flags as for mod.ts
 * (e.g. "-c petrel.conf -js"), PETREL_CONFIG is a shortcut for "-c <file>". Errors as values.
 */
export function serverlessOptions(
  env: { args?: string; config?: string },
  io: ConfigIO,
): { ok: true; value: ServerOptions; warnings: string[] } | { ok: false; error: string } {
  const r = loadServerOptions(serverlessArgs(env), io);
  if (!r.ok) return { ok: false, error: r.error.text };
  return { ok: true, value: r.value.options, warnings: r.value.warnings };
}
