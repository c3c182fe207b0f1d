// From argv (+ injected file reading and environment) to the options the server starts with.
// Flags win over the configuration file; defaults come last.

import { loadConfigSupport, loadConfigText } from "../config/load.ts";
import { loadSchemas } from "../config/schemas_on_demand.ts";
import { applyDefaults, mergeLayers, type OptionLayer } from "../config/normalize.ts";
import type { ServerOptions } from "../config/schema.ts";
import type { ConfigIO, ConfPath, SourceLoc } from "../config/types.ts";
import { streamingProblem } from "../config/streaming.ts";
import { DEFAULT_SYSTEM_ACCOUNT } from "../config/account_names.ts";
import { type CliAction, parseArgs } from "./flags.ts";

/** A start-up problem, ready to print (`text`), with its location when it comes from a file. */
export interface StartupError {
  text: string;
  file?: string;
  line?: number;
  key?: string;
  /** Every problem found (text form); `text` is the first. */
  all: string[];
}

export type ResolveResult =
  | { ok: true; options: ServerOptions; warnings: string[] }
  | { ok: false; error: StartupError };

/** Merge the file's values (if any) with command-line overrides (which win), then apply defaults. */
export function resolveOptions(
  config: OptionLayer | undefined,
  flags: OptionLayer,
  warnings: string[] = [],
  locate?: (path: ConfPath) => SourceLoc,
): ResolveResult {
  const merged = config ? mergeLayers(config, flags) : flags;
  const options = applyDefaults(merged);
  const a = options.authorization;
  if (a && a.token !== undefined && (a.user !== undefined || a.password !== undefined)) {
    const text = "cannot have a user/password and a token";
    return { ok: false, error: { text, all: [text] } };
  }
  // nats-server: a single user or a token (from flags or the file) cannot sit beside users in accounts.
  const accountUsers = Object.values(options.accounts ?? {}).some((acc) => (acc.users?.length ?? 0) > 0);
  if (a && accountUsers && (a.user !== undefined || a.token !== undefined)) {
    const what = a.token !== undefined ? "--auth: cannot have a token" : "--user: cannot have a single user/password";
    const text = `${what} and users in accounts`;
    return { ok: false, error: { text, key: a.token !== undefined ? "auth" : "user", all: [text] } };
  }
  const streamingProblemText = options.streaming ? streamingProblem(options.streaming) : undefined;
  if (streamingProblemText !== undefined) return { ok: false, error: { text: streamingProblemText, key: "streaming", all: [streamingProblemText] } };
  // nats-server refuses JetStream on the system account once JetStream is on (from the file or -js).
  const sys = options.system_account ?? DEFAULT_SYSTEM_ACCOUNT;
  if (options.jetstream?.enabled === true && options.accounts?.[sys]?.jetstream !== undefined) {
    const path = ["accounts", sys, "jetstream"];
    const loc = locate?.(path);
    const message = `accounts.${sys}.jetstream: JetStream cannot be enabled on the system account`;
    const text = loc && loc.line > 0 ? `${loc.file}:${loc.line}: ${message}` : message;
    const error: StartupError = { text, key: path.join("."), all: [text] };
    if (loc) Object.assign(error, { file: loc.file, line: loc.line });
    return { ok: false, error };
  }
  return { ok: true, options, warnings };
}

export interface LoadedOptions {
  action: CliAction;
  options: ServerOptions;
  warnings: string[];
  /** The -c/--config path as given, for reloading on SIGHUP. */
  configFile?: string;
}

export type LoadResult = { ok: true; value: LoadedOptions } | { ok: false; error: StartupError };

/**
 * Load what reading the config file named in `argv` needs (the schemas, the YAML parser for a YAML file); before
 * loadServerOptions. With `readFile`, the file's text decides whether the nkey/bcrypt/operator libraries load and
 * whether the file is plain (no schemas: config/plain.ts); `env` lets a plain file use environment variables.
 */
export async function prepareServerOptions(
  argv: readonly string[],
  readFile?: (path: string) => string | undefined,
  env?: (name: string) => string | undefined,
): Promise<void> {
  const args = parseArgs(argv);
  if (!args.ok) return;
  const file = args.value.configFile;
  let text: string | undefined;
  if (file !== undefined && readFile !== undefined) {
    try {
      text = readFile(file);
    } catch {
      text = undefined; // loadServerOptions reports the unreadable file
    }
  }
  await loadConfigSupport(file, text, { readFile, env });
  // --user/--pass/--auth: a password may be a bcrypt hash.
  if (args.value.overrides.authorization !== undefined) await loadSchemas();
}

/**
 * The whole start-up path for mod.ts: parse flags, read and check the config file (format chosen by
 * extension), merge with flags winning. For `help` and `version` the config file is not read.
 */
export function loadServerOptions(argv: readonly string[], io: ConfigIO): LoadResult {
  const args = parseArgs(argv);
  if (!args.ok) {
    const text = args.error.message;
    return { ok: false, error: { text, key: args.error.flag, all: [text] } };
  }
  const { action, configFile, overrides, warnings } = args.value;
  const done = (fileLayer: OptionLayer | undefined, fileWarnings: string[], locate?: (path: ConfPath) => SourceLoc): LoadResult => {
    const r = resolveOptions(fileLayer, overrides, [...fileWarnings, ...warnings], locate);
    if (!r.ok) return r;
    const value: LoadedOptions = { action, options: r.options, warnings: r.warnings };
    if (configFile !== undefined) value.configFile = configFile;
    return { ok: true, value };
  };
  if (configFile === undefined || action === "help" || action === "version") return done(undefined, []);

  const text = io.readFile(configFile);
  if (text === undefined) {
    const msg = `${configFile}: cannot read the configuration file`;
    return { ok: false, error: { text: msg, file: configFile, all: [msg] } };
  }
  const loaded = loadConfigText(text, configFile, io);
  if (!loaded.ok) {
    const e = loaded.error;
    const fmt = (x: { file: string; line: number; message: string }) =>
      x.line > 0 ? `${x.file}:${x.line}: ${x.message}` : `${x.file}: ${x.message}`;
    const error: StartupError = { text: fmt(e), file: e.file, line: e.line, all: e.errors.map(fmt) };
    if (e.key !== undefined) error.key = e.key;
    return { ok: false, error };
  }
  const [refused, ...more] = loaded.value.refusals;
  if (refused !== undefined) {
    const fmt = (x: { file: string; line: number; message: string }) =>
      x.line > 0 ? `${x.file}:${x.line}: ${x.message}` : `${x.file}: ${x.message}`;
    const error: StartupError = { text: fmt(refused), file: refused.file, line: refused.line, key: refused.key, all: [refused, ...more].map(fmt) };
    return { ok: false, error };
  }
  return done(loaded.value.layer, loaded.value.warnings, loaded.value.locate);
}
