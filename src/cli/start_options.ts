/**
 * The options a process starts (or reloads) with, from its command line: flags win over a config file, defaults
 * come last. A start from flags alone loads no config-file code: the nats conf parser, the plain-file check and
 * their helpers (src/config/load.ts and what it imports) come with load_options.ts, imported only when `-c` names
 * a file. Why: every module a plain start loads stays resident (on Bun ~80-100 KB of RSS each, bench/RESULTS.md
 * "bunidle, 2026-12-07").
 */
import { applyDefaults, loadStreamingConfig, mergeLayers, type OptionLayer, streamingConfig } from "../config/normalize.ts";
import type { ServerOptions } from "../config/schema.ts";
import type { ConfigIO, ConfPath, SourceLoc } from "../config/types.ts";
import { DEFAULT_SYSTEM_ACCOUNT } from "../config/account_names.ts";
import { loadAuthLibs, secretNeedsAuthLibs } from "../server/auth_libs.ts";
import { type CliAction, type FlagError, type ParsedArgs, parseArgs } from "./flags.ts";

/**
 * Parse `argv` and build the options: with a config file (and not `--help`/`--version`), through
 * load_options.ts's prepare-and-load (what the file needs is loaded first); else from the flags alone.
 */
export async function loadStartOptions(argv: readonly string[], io: ConfigIO): Promise<LoadResult> {
  const args = parseArgs(argv);
  if (!args.ok) return argsError(args.error);
  const { action, configFile, overrides } = args.value;
  if (configFile === undefined || action === "help" || action === "version") {
    await loadFlagAuthLibs(overrides);
    if (overrides.streaming !== undefined) await loadStreamingConfig();
    return optionsFromArgs(args.value);
  }
  const { loadServerOptions, prepareServerOptions } = await import("./load_options.ts");
  await prepareServerOptions(argv, io.readFile, io.env);
  return loadServerOptions(argv, io);
}

/**
 * --pass/--auth: a bcrypt hash needs bcryptjs; a plain password or token needs no library and no schema (flags
 * name no nkey, operator or accounts). Loading them anyway cost a Deno `--user/--pass` start ~15 MB idle.
 */
export async function loadFlagAuthLibs(overrides: OptionLayer): Promise<void> {
  const a = overrides.authorization;
  if (a !== undefined && (secretNeedsAuthLibs(a.password) || secretNeedsAuthLibs(a.token))) await loadAuthLibs();
}

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
  const streamingProblemText = options.streaming ? streamingConfig().streamingProblem(options.streaming) : undefined;
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

/** A command line that does not parse, as a start-up problem. */
export function argsError(error: FlagError): LoadResult {
  const text = error.message;
  return { ok: false, error: { text, key: error.flag, all: [text] } };
}

/** The options for parsed arguments, over the config file's layer when one was read (`fileLayer`). */
export function optionsFromArgs(
  args: ParsedArgs,
  fileLayer?: OptionLayer,
  fileWarnings: string[] = [],
  locate?: (path: ConfPath) => SourceLoc,
): LoadResult {
  const { action, configFile, overrides, warnings } = args;
  const r = resolveOptions(fileLayer, overrides, [...fileWarnings, ...warnings], locate);
  if (!r.ok) return r;
  const value: LoadedOptions = { action, options: r.options, warnings: r.warnings };
  if (configFile !== undefined) value.configFile = configFile;
  return { ok: true, value };
}
