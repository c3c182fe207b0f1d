// From argv (+ injected file reading and environment) to the options the server starts with, config file
// included: the file is read, checked and merged under the flags (src/cli/start_options.ts).

import { loadConfigSupport, loadConfigText } from "../config/load.ts";
import type { OptionLayer } from "../config/normalize.ts";
import type { ConfigIO, ConfPath, SourceLoc } from "../config/types.ts";
import { parseArgs } from "./flags.ts";
import { argsError, loadFlagAuthLibs, type LoadResult, optionsFromArgs, type StartupError } from "./start_options.ts";
import { loadStreamingConfig } from "../config/normalize.ts";

export { argsError, optionsFromArgs, resolveOptions } from "./start_options.ts";
export type { LoadedOptions, LoadResult, ResolveResult, StartupError } from "./start_options.ts";

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
  await loadFlagAuthLibs(args.value.overrides);
  // NATS Streaming flags bring a streaming block (a file's is loaded with its readers).
  if (args.value.overrides.streaming !== undefined) await loadStreamingConfig();
}

/**
 * The whole start-up path for mod.ts: parse flags, read and check the config file (format chosen by
 * extension), merge with flags winning. For `help` and `version` the config file is not read.
 */
export function loadServerOptions(argv: readonly string[], io: ConfigIO): LoadResult {
  const args = parseArgs(argv);
  if (!args.ok) return argsError(args.error);
  const { action, configFile } = args.value;
  const done = (fileLayer: OptionLayer | undefined, fileWarnings: string[], locate?: (path: ConfPath) => SourceLoc): LoadResult =>
    optionsFromArgs(args.value, fileLayer, fileWarnings, locate);
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
