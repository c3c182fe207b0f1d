/**
 * Petrel's entry point. As a script (`deno run -A mod.ts`, `bun run mod.ts`) it is a drop-in nats-server:
 * same flags, same config files, same signals. As a module it is the embedding API: `startPetrel(options)`.
 */
import { loadStartOptions } from "./src/cli/start_options.ts";
import { USAGE } from "./src/cli/flags.ts";
import type { ServerOptions } from "./src/config/schema.ts";
import { applyDefaults, loadStreamingConfig, type OptionLayer } from "./src/config/normalize.ts";
import { loadSchemas } from "./src/config/schemas_on_demand.ts";
import { createLogger, type Logger, silentLogger } from "./src/log/logger.ts";
import { logUtcOffset } from "./src/log/local_offset.ts";
import { Petrel, type PetrelExtension } from "./src/petrel.ts";
import { PETREL_VERSION, VERSION } from "./src/server/server.ts";
import { currentRuntime } from "./adapters/runtime/index.ts";
import type { Runtime } from "./src/runtime/types.ts";
import { defaultExtensions } from "./adapters/extensions.ts";
import type { JwtStore } from "./src/jwt/store.ts";

/**
 * The re-exec's switch (adapters/runtime/reexec_plan.ts's REEXEC_SWITCH), read here so that a start without it
 * loads none of the re-exec's code (off by default; every module a plain start loads stays resident).
 */
const REEXEC_SWITCH = "PETREL_REEXEC";

/** The JWT directory store (node:fs) only for a configuration with a full resolver: a plain start loads no node:fs. */
async function jwtStoreFor(options: ServerOptions): Promise<((dir: string) => JwtStore) | undefined> {
  const resolver = options.operator?.resolver;
  if (resolver === undefined || resolver === "MEMORY") return undefined;
  return (await import("./adapters/jwt_dir_store.ts")).createDirJwtStore;
}

export { Petrel } from "./src/petrel.ts";
export { Server } from "./src/server/server.ts";
export type { ServerOptions } from "./src/config/schema.ts";
export type { InternalClient, InternalMsg } from "./src/server/internal.ts";
/** Embedders building `new Petrel(options)` with accounts themselves await this first (startPetrel does). */
export { loadSchemas } from "./src/config/schemas_on_demand.ts";

export interface StartOptions {
  /** Options as in a config file (nats-server key names); missing ones take nats-server's defaults. */
  options?: OptionLayer;
  /** Or: nats-server command-line arguments (`["-p", "-1", "-js"]`), config file included. */
  args?: string[];
  logger?: Logger;
  runtime?: Runtime;
  /** Replace the default extensions (JetStream, WebSocket, cluster). */
  extensions?: PetrelExtension[];
}

/**
 * One read per path for a prepare-and-load pair: the options are prepared (what a file needs is loaded) and then
 * loaded from the same text, and a config given as a pipe (`-c <(...)`, `/dev/stdin`) can be read only once.
 */
function readOnce<T>(read: (path: string) => T): (path: string) => T {
  const seen = new Map<string, T>();
  return (path) => {
    if (seen.has(path)) return seen.get(path) as T;
    const text = read(path);
    seen.set(path, text);
    return text;
  };
}

/** Start a broker in this process. Stop it with `await petrel.stop()`. */
export async function startPetrel(so: StartOptions = {}): Promise<Petrel> {
  const rt = so.runtime ?? currentRuntime();
  let options: ServerOptions;
  if (so.args !== undefined) {
    const r = await loadStartOptions(so.args, { readFile: readOnce((p) => rt.readTextFileSync(p)), env: (n) => rt.env(n) });
    if (!r.ok) throw new Error(r.error.text);
    options = r.value.options;
  } else {
    await loadSchemas();
    if (so.options?.streaming !== undefined) await loadStreamingConfig();
    options = applyDefaults(so.options ?? {});
    // Options built in code skip the file checks: run the account ones here (undefined names, cycles, ...). The
    // accounts reader is loaded here, not by `mod.ts` itself: a start from the command line without a file has none.
    const { checkAccountsOptions } = await import("./src/config/accounts.ts");
    const problems = checkAccountsOptions(options);
    if (problems.length > 0) throw new Error(problems.join("; "));
  }
  const petrel = new Petrel(options, {
    transport: rt.tcp,
    serveHttp: (o, f) => rt.serveHttp(o, f),
    readFile: (p) => rt.readTextFileSync(p),
    jwtStore: await jwtStoreFor(options),
    logger: so.logger ?? silentLogger,
    memory: () => rt.memoryRss(),
    interfaceAddresses: () => rt.interfaceAddresses(),
    extensions: so.extensions ?? defaultExtensions(options, rt),
  });
  await petrel.start();
  return petrel;
}

async function main(): Promise<void> {
  const rt: Runtime = currentRuntime();
  const argv = rt.args();
  const reexecRaw = rt.env(REEXEC_SWITCH);
  if (reexecRaw !== undefined && reexecRaw !== "") {
    const reexecSwitch = (await import("./adapters/runtime/reexec_plan.ts")).readSwitch(reexecRaw);
    if (typeof reexecSwitch === "object") {
      rt.writeStderr(`nats-server: ${reexecSwitch.error}\n`);
      rt.exit(1);
    }
  }
  // A diagnostic of tail latency, off by default: what the event loop did while messages waited (stall_recorder.ts).
  const stallLog = rt.env("PETREL_STALL_LOG");
  const stallRecorder = stallLog !== undefined && stallLog !== ""
    ? (await import("./adapters/runtime/stall_recorder.ts")).startStallRecorder(stallLog, rt.pid)
    : undefined;
  const env = (n: string) => rt.env(n);
  const loaded = await loadStartOptions(argv, { readFile: readOnce((p) => rt.readTextFileSync(p)), env });
  if (!loaded.ok) {
    rt.writeStderr(`nats-server: ${loaded.error.text}\n`);
    rt.exit(1);
  }
  const { action, options, warnings, configFile } = loaded.value;
  if (action === "help") {
    rt.writeStdout(USAGE);
    rt.exit(0);
  }
  if (action === "version") {
    rt.writeStdout(`nats-server: v${VERSION} (petrel v${PETREL_VERSION})\n`);
    rt.exit(0);
  }
  if (action === "test") {
    // Certificate files are part of the configuration: -t reads and checks them, as nats-server's does.
    await rt.tcp.loadTls?.();
    const { checkTlsFiles } = await import("./src/tls/check.ts");
    const tlsProblem = checkTlsFiles(options, (p) => rt.readTextFileSync(p), rt.tcp.prepareTls);
    if (tlsProblem !== undefined) {
      rt.writeStderr(`nats-server: ${tlsProblem}\n`);
      rt.exit(1);
    }
    // nats-server's words, on stderr like nats-server.
    rt.writeStderr(`nats-server: configuration file ${configFile ?? ""} is valid\n`);
    rt.exit(0);
  }
  const write = options.log_file !== undefined
    ? (line: string) => rt.appendFile(options.log_file as string, line)
    : (line: string) => rt.writeStderr(line);
  const utcOffsetMinutes = options.logtime
    ? logUtcOffset(rt.env("TZ"), (p) => rt.readBytesFileSync(p), Date.now(), (p) => rt.realFilePathSync(p))
    : undefined;
  const logger = createLogger({ debug: options.debug, trace: options.trace, logtime: options.logtime, pid: rt.pid, write, utcOffsetMinutes });
  for (const w of warnings) logger.warn(w);
  logger.info(`Starting nats-server`);
  logger.info(`  Version:  ${VERSION} (petrel ${PETREL_VERSION} on ${rt.name} ${rt.version})`);
  logger.info(`  Git:      [not set]`);
  if (configFile !== undefined) logger.info(`  Using configuration file: ${configFile}`);

  let petrel: Petrel;
  try {
    petrel = new Petrel(options, {
      transport: rt.tcp,
      serveHttp: (o, f) => rt.serveHttp(o, f),
      readFile: (p) => rt.readTextFileSync(p),
      jwtStore: await jwtStoreFor(options),
      logger,
      memory: () => rt.memoryRss(),
      interfaceAddresses: () => rt.interfaceAddresses(),
      extensions: defaultExtensions(options, rt),
    });
    logger.info(`  Name:     ${petrel.server.serverName}`);
    logger.info(`  ID:       ${petrel.server.serverId}`);
    await petrel.start();
  } catch (e) {
    logger.fatal(`Error starting server: ${e instanceof Error ? e.message : String(e)}`);
    rt.exit(1);
  }

  const portsFile = options.ports_file_dir !== undefined ? `${options.ports_file_dir}/nats-server_${rt.pid}.ports` : undefined;

  let exiting = false;
  let stopThreadSweep = () => {};
  const stop = async (why: string) => {
    if (exiting) return;
    exiting = true;
    stopThreadSweep();
    logger.info(`Trapped "${why}" signal`);
    await petrel.stop();
    if (portsFile !== undefined) await rt.removeFile(portsFile);
    if (options.pid_file !== undefined) await rt.removeFile(options.pid_file);
    stallRecorder?.stop();
    rt.exit(0);
  };
  rt.onSignal("SIGTERM", () => void stop("terminated"));
  rt.onSignal("SIGINT", () => void stop("interrupt"));
  rt.onSignal("SIGUSR2", () => {
    void petrel.lameDuck().then(() => stop("lame duck"));
  });
  // The file may now name nkey users or bcrypt hashes: what it needs is loaded first, as at start-up.
  const reload = async () => {
    const r = await loadStartOptions(argv, { readFile: readOnce((p) => rt.readTextFileSync(p)), env });
    if (!r.ok) {
      logger.error(`Failed to reload server configuration: ${r.error.text}`);
      return;
    }
    try {
      petrel.server.reload(r.value.options);
    } catch (e) {
      logger.error(`Failed to reload server configuration: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    rt.reopenAppendFiles();
    logger.info("Reloaded server configuration");
  };
  rt.onSignal("SIGHUP", () => void reload());
  // The ports and pid files tell tools the server is up: only once every signal has its handler (a SIGHUP sent
  // as soon as the ports file appeared met the default action and killed the server).
  if (portsFile !== undefined) await rt.writeTextFile(portsFile, JSON.stringify(petrel.ports()));
  if (options.pid_file !== undefined) await rt.writeTextFile(options.pid_file, String(rt.pid));
  // Once serving and busy: the JIT's compiler threads below the event loop (tail latency on small hosts). Its code
  // loads here, once clients are taken: a start does not wait for what only a loaded server needs.
  const watchLoad = async () => {
    const { lowerCompilerThreads } = await import("./adapters/runtime/compiler_threads.ts");
    const stopSweep = await lowerCompilerThreads(rt.name, rt.env("PETREL_JIT_NICE"), rt.cpuTimeMs?.bind(rt), (nudge) => {
      petrel.server.connectionListeners.add((_c, up) => up && nudge());
    });
    if (exiting) stopSweep();
    else stopThreadSweep = stopSweep;
  };
  // A server without links or a monitoring port gets its load only through clients: the watch (its module, its
  // timers, the CPU-time reads) starts with the first client (a connection that sent CONNECT). A server that only
  // answers port probes (health checks, which never send CONNECT) runs none of it: on Bun each of those first uses
  // keeps some of the runtime's code resident (~0.1-0.2 MB together; bench/RESULTS.md, `bunidle5`).
  const clientsOnly = options.cluster === undefined && options.gateway === undefined && options.leafnodes === undefined &&
    options.http_port === 0 && (options.https_port ?? 0) === 0;
  if (!clientsOnly) return await watchLoad();
  const firstClient = (_c: unknown, up: boolean) => {
    if (!up || exiting) return;
    petrel.server.connectionListeners.delete(firstClient);
    void watchLoad();
  };
  petrel.server.connectionListeners.add(firstClient);
}

if (import.meta.main) {
  // First, before anything is served: the runtime options that only the environment at start can set
  // (adapters/runtime/reexec_plan.ts; only with PETREL_REEXEC=1). Returns only when no re-exec happened.
  const reexecRaw = currentRuntime().env(REEXEC_SWITCH);
  if (reexecRaw !== undefined && reexecRaw !== "") await (await import("./adapters/runtime/reexec.ts")).reexecWithRuntimeOptions();
  await main();
}
