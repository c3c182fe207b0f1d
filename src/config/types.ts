// Neutral types shared by the conf parser, the YAML reader, the schema and the CLI.

/** A plain configuration value, as produced by the conf and YAML readers. */
export type ConfValue = string | number | boolean | ConfValue[] | ConfMap;
export interface ConfMap {
  [key: string]: ConfValue;
}

/** Where a key (or array item) was written. */
export interface SourceLoc {
  file: string;
  line: number;
}

/** A configuration problem, always tied to a file and line when one is known. */
export interface ConfigError {
  file: string;
  line: number;
  /** Dotted key path, e.g. "cluster.port", when the problem concerns a key. */
  key?: string;
  message: string;
}

export type Result<T, E = ConfigError> = { ok: true; value: T } | { ok: false; error: E };

/** A parsed file: values plus the source location of every key, keyed by `pathKey(path)`. */
export interface ParsedConfig {
  file: string;
  value: ConfMap;
  locs: Map<string, SourceLoc>;
  /** Paths (pathKey) of keys that were referenced as `$VAR`: such keys are variables, not options. */
  usedVariables: Set<string>;
}

/** Injected I/O: src/ never touches the file system or the process environment itself. */
export interface ConfigIO {
  /** File contents, or undefined when the file does not exist / cannot be read. */
  readFile(path: string): string | undefined;
  env(name: string): string | undefined;
}

export type ConfPath = readonly (string | number)[];

/** Stable map key for a path of keys and array indexes. */
export function pathKey(path: ConfPath): string {
  return JSON.stringify(path);
}

/** Human form of a path: cluster.routes[0] */
export function pathLabel(path: ConfPath): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? p : `.${p}`;
  }
  return out;
}

export function formatConfigError(e: ConfigError): string {
  return e.line > 0 ? `${e.file}:${e.line}: ${e.message}` : `${e.file}: ${e.message}`;
}

export function isConfMap(v: unknown): v is ConfMap {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
