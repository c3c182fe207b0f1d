// One entry point from a configuration file to validated options and warnings.

import { parseConf } from "./conf_parser.ts";
import type { OptionLayer } from "./normalize.ts";
import { configReadersLoaded, layerFromRaw, loadConfigReaders } from "./layer_from_raw.ts";
import {
  type ConfigError,
  type ConfigIO,
  type ConfPath,
  formatConfigError,
  type ParsedConfig,
  type Result,
  type SourceLoc,
} from "./types.ts";
import { loadSchemas, schemas, schemasLoaded } from "./schemas_on_demand.ts";
import { checkPlain, plainNeedsAuthLibs } from "./plain.ts";
import type { ValidatedConfig } from "./validate.ts";
import type { parseYamlConfig } from "./yaml_parser.ts";
import { runtimeRefusals } from "./not_implemented.ts";
import { configMayNeedAuthLibs } from "./auth_need.ts";
import { loadAuthLibs } from "../server/auth_libs.ts";

/** A name ending in `.yml` or `.yaml` (any case). Scanned by hand: see units.ts `isInteger`. */
export function isYamlFile(file: string): boolean {
  const n = file.length;
  const lower = (i: number) => file.charCodeAt(i) | 32; // ASCII letters only: c | 32 is 'l' for 'L' and 'l' alone
  if (n < 4 || lower(n - 1) !== 108 || lower(n - 2) !== 109) return false; // "ml"
  if (file.charCodeAt(n - 4) === 46 && lower(n - 3) === 121) return true; // ".yml"
  return n >= 5 && file.charCodeAt(n - 5) === 46 && lower(n - 4) === 121 && lower(n - 3) === 97; // ".yaml"
}

/** The YAML parser, loaded on demand: the YAML library is large, and most configurations are nats conf files. */
let yamlParser: typeof parseYamlConfig | undefined;

/** Load the YAML parser (once). Call before parsing a .yaml/.yml file; a nats conf file needs nothing. */
export async function loadYamlSupport(): Promise<void> {
  yamlParser ??= (await import("./yaml_parser.ts")).parseYamlConfig;
}

/** Load everything any config file may need (tests and tools that parse files of every kind synchronously). */
export async function loadConfigFormats(): Promise<void> {
  await loadSchemas();
  await loadYamlSupport();
  await loadConfigReaders();
}

/**
 * Load what loading `file` needs: the schemas that validate it (none for a plain conf file, see plain.ts), the
 * YAML parser for a .yaml/.yml file, the nkey/bcrypt/operator libraries unless its `text` (when the caller
 * has it) shows it cannot need them, and the readers of the blocks it has (layer_from_raw.ts: users, accounts,
 * streaming, TLS; all of them for a file checked by the schemas).
 */
export async function loadConfigSupport(file: string | undefined, text?: string, io?: Partial<ConfigIO>): Promise<void> {
  if (file === undefined) return;
  const plain = text === undefined ? undefined : plainCheckOfText(text, file, io);
  if (plain !== undefined) {
    // Its values are known now: only a bcrypt hash (a password or token in `authorization {}`) needs a library.
    if (plainNeedsAuthLibs(plain)) await loadAuthLibs();
    await loadConfigReaders(plain.raw);
    return;
  }
  await loadSchemas({ authLibs: text === undefined || configMayNeedAuthLibs(text) });
  if (isYamlFile(file)) await loadYamlSupport();
  await loadConfigReaders();
}

/**
 * Is `text` a plain nats conf file, checked without the schemas? Includes and environment variables are read
 * through `io` when given; without it a file that uses them is not plain (the answer errs towards loading).
 */
export function isPlainConfText(text: string, file: string, io?: Partial<ConfigIO>): boolean {
  return plainCheckOfText(text, file, io) !== undefined;
}

function plainCheckOfText(text: string, file: string, io?: Partial<ConfigIO>): ValidatedConfig | undefined {
  if (isYamlFile(file)) return undefined;
  try {
    const parsed = parseConf(text, { file, readFile: io?.readFile, env: io?.env });
    return parsed.ok ? checkPlain(parsed.value) : undefined;
  } catch {
    return undefined; // an include that cannot be read (not as "missing"): loadConfigText reports it
  }
}

/** Parse text in the format chosen by the file extension (.yaml/.yml: YAML; anything else: nats conf). */
export function parseConfigText(text: string, file: string, io?: Partial<ConfigIO>): Result<ParsedConfig> {
  if (isYamlFile(file)) {
    if (yamlParser === undefined) throw new Error(`bug: ${file} parsed before loadYamlSupport()`);
    return yamlParser(text, file);
  }
  return parseConf(text, { file, readFile: io?.readFile, env: io?.env });
}

export interface LoadedConfig {
  layer: OptionLayer;
  /** Formatted "file:line: message" warnings (unknown or unsupported keys...). */
  warnings: string[];
  /**
   * Options read and checked completely whose runtime is not implemented yet (not_implemented.ts): the file
   * is valid, but the server must not start with it. The CLI path (`-t` included) refuses on these.
   */
  refusals: ConfigError[];
  /** Where a (canonical) key path was written, for checks made after flags are merged. */
  locate(path: ConfPath): SourceLoc;
}

/**
 * Parse, validate and normalize a configuration file's text. Errors: every problem found, formatted
 * "file:line: key: expected ..., got ..."; `error` is the first one (the one to print), `errors` all.
 * A plain file (plain.ts) is checked without the schemas, with the same result; `opts.plain: false` forces the
 * full check (tests compare both).
 */
export function loadConfigText(
  text: string,
  file: string,
  io?: Partial<ConfigIO>,
  opts: { plain?: boolean } = {},
): Result<LoadedConfig, ConfigError & { errors: ConfigError[] }> {
  const parsed = parseConfigText(text, file, io);
  if (!parsed.ok) return { ok: false, error: { ...parsed.error, errors: [parsed.error] } };
  const plain = opts.plain === false ? undefined : checkPlain(parsed.value);
  if (plain === undefined && !schemasLoaded()) {
    // loadConfigSupport found the file plain and loaded no schemas, and the text read now is not: it changed
    // in between (or a caller skipped loadConfigSupport). Refuse rather than guess; reading it again loads them.
    const error = { file, line: 0, message: "the file changed while it was read (it now needs the full check); load it again" };
    return { ok: false, error: { ...error, errors: [error] } };
  }
  const validated = plain !== undefined ? { ok: true as const, value: plain } : schemas().validate.validateConfig(parsed.value);
  if (!validated.ok) return { ok: false, error: { ...validated.error[0], errors: validated.error } };
  if (!configReadersLoaded(validated.value.raw)) {
    // Blocks loadConfigSupport did not see (users, accounts, streaming, TLS): the file changed in between.
    const error = { file, line: 0, message: "the file changed while it was read (it now has blocks it did not have); load it again" };
    return { ok: false, error: { ...error, errors: [error] } };
  }
  const layered = layerFromRaw(validated.value.raw, validated.value);
  if (!layered.ok) return { ok: false, error: { ...layered.error[0], errors: layered.error } };
  const warnings = [...validated.value.warnings, ...layered.value.warnings].map(formatConfigError);
  const refusals = runtimeRefusals(layered.value.layer).map((r) => ({
    ...validated.value.locate(r.path),
    key: r.key,
    message: r.message,
  }));
  return { ok: true, value: { layer: layered.value.layer, warnings, refusals, locate: validated.value.locate } };
}
