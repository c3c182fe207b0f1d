// Checks a parsed file against the schema: keys are matched case-insensitively (as nats-server does),
// unknown keys become warnings with their file:line, wrong values become errors with file:line, key,
// value and expectation.

import { z } from "zod";
import { type RawConfig, rawConfigSchema, unsupported } from "./schema.ts";
import { inStrictBlock, notImplementedAt, notImplementedMessage } from "./not_implemented.ts";
import { accountListErrors } from "./accounts.ts";
import {
  type ConfigError,
  type ConfMap,
  type ConfPath,
  type ConfValue,
  isConfMap,
  type ParsedConfig,
  pathKey,
  pathLabel,
  type Result,
  type SourceLoc,
} from "./types.ts";

export interface ValidatedConfig {
  raw: RawConfig;
  file: string;
  /** Location of a canonical (lower-cased) key path, or of its nearest located ancestor. */
  locate(path: ConfPath): SourceLoc;
  warnings: ConfigError[];
}

export function validateConfig(parsed: ParsedConfig): Result<ValidatedConfig, ConfigError[]> {
  const locs = new Map<string, SourceLoc>();
  const warnings: ConfigError[] = [];
  const refused: ConfigError[] = [];
  const canonical = canonicalize(parsed, rawConfigSchema, parsed.value, [], [], locs, { warnings, refused });
  const locate = (path: ConfPath): SourceLoc => {
    for (let n = path.length; n > 0; n--) {
      const loc = locs.get(pathKey(path.slice(0, n)));
      if (loc) return loc;
    }
    return { file: parsed.file, line: 0 };
  };
  const listErrors = accountListErrors(canonical, locate);
  const result = rawConfigSchema.safeParse(canonical);
  const schemaErrors = result.success ? [] : issuesToErrors(result.error.issues, canonical, locate);
  const errors = [...refused, ...listErrors, ...schemaErrors];
  if (!result.success || errors.length > 0) return { ok: false, error: errors };
  return { ok: true, value: { raw: result.data, file: parsed.file, locate, warnings } };
}

function issuesToErrors(
  issues: readonly z.core.$ZodIssue[],
  root: ConfValue,
  locate: (path: ConfPath) => SourceLoc,
): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    const loc = locate(path);
    const key = pathLabel(path);
    const value = valueAt(root, path);
    const expectation = issue.message;
    const message = value === undefined
      ? `${key}: missing, expected ${expectation}`
      : `${key === "" ? "configuration" : key}: expected ${expectation}, got ${describeValue(value)}`;
    errors.push({ file: loc.file, line: loc.line, key, message });
  }
  return errors;
}

export function describeValue(v: ConfValue): string {
  if (Array.isArray(v)) return "a list";
  if (isConfMap(v)) return "a map";
  return JSON.stringify(v);
}

function valueAt(root: ConfValue, path: ConfPath): ConfValue | undefined {
  let cur: ConfValue | undefined = root;
  for (const p of path) {
    if (cur === undefined) return undefined;
    if (typeof p === "number") cur = Array.isArray(cur) ? cur[p] : undefined;
    else cur = isConfMap(cur) && Object.hasOwn(cur, p) ? cur[p] : undefined;
  }
  return cur;
}

type Shape = Record<string, z.ZodType>;

/** The object shape a value would be checked against, looking through optional and union wrappers. */
function shapeFor(schema: z.ZodType, value: ConfValue): Shape | undefined {
  if (schema instanceof z.ZodOptional) return shapeFor(schema.unwrap() as z.ZodType, value);
  if (schema instanceof z.ZodPipe) return shapeFor(schema.out as z.ZodType, value);
  if (schema instanceof z.ZodObject) return isConfMap(value) ? (schema.shape as Shape) : undefined;
  if (schema instanceof z.ZodUnion) {
    for (const o of schema.options as readonly z.ZodType[]) {
      const s = shapeFor(o, value);
      if (s) return s;
    }
  }
  return undefined;
}

/** The value schema of a record (a map keyed by names, e.g. accounts), looking through wrappers. */
function recordValueFor(schema: z.ZodType, value: ConfValue): z.ZodType | undefined {
  if (!isConfMap(value)) return undefined;
  if (schema instanceof z.ZodOptional) return recordValueFor(schema.unwrap() as z.ZodType, value);
  if (schema instanceof z.ZodPipe) return recordValueFor(schema.out as z.ZodType, value);
  if (schema instanceof z.ZodRecord) return schema.valueType as z.ZodType;
  return undefined;
}

function elementFor(schema: z.ZodType): z.ZodType | undefined {
  if (schema instanceof z.ZodOptional) return elementFor(schema.unwrap() as z.ZodType);
  if (schema instanceof z.ZodPipe) return elementFor(schema.out as z.ZodType);
  if (schema instanceof z.ZodArray) return schema.element as z.ZodType;
  return undefined;
}

interface Findings {
  warnings: ConfigError[];
  /** Keys Petrel does not implement and must not ignore (not_implemented.ts). */
  refused: ConfigError[];
}

/**
 * Copy the value with known keys lower-cased, record locations under canonical paths, warn about unknown
 * and unsupported keys, refuse not-implemented ones. Keys referenced as `$VAR` are variables, not options.
 * Names in a record (account names) keep their case.
 */
function canonicalize(
  parsed: ParsedConfig,
  schema: z.ZodType,
  value: ConfValue,
  origPath: ConfPath,
  path: ConfPath,
  locs: Map<string, SourceLoc>,
  found: Findings,
): ConfValue {
  const { warnings, refused } = found;
  const loc = parsed.locs.get(pathKey(origPath));
  if (loc && path.length > 0) locs.set(pathKey(path), loc);
  const recordValue = recordValueFor(schema, value);
  if (recordValue && isConfMap(value)) {
    const out: ConfMap = {};
    for (const [k, v] of Object.entries(value)) {
      // A variable defined among the names (e.g. a password used by an account below) is not an entry.
      if (parsed.usedVariables.has(pathKey([...origPath, k]))) continue;
      out[k] = canonicalize(parsed, recordValue, v, [...origPath, k], [...path, k], locs, found);
    }
    return out;
  }
  const shape = shapeFor(schema, value);
  if (shape && isConfMap(value)) {
    const out: ConfMap = {};
    for (const [k, v] of Object.entries(value)) {
      const lower = k.toLowerCase();
      const childOrig = [...origPath, k];
      const notImplemented = notImplementedAt([...path, lower]);
      if (notImplemented !== undefined) {
        const at = parsed.locs.get(pathKey(childOrig)) ?? loc ?? { file: parsed.file, line: 0 };
        const key = pathLabel([...path, k]);
        refused.push({ ...at, key, message: notImplementedMessage(key, notImplemented) });
        continue;
      }
      const known = Object.hasOwn(shape, k) ? k : Object.hasOwn(shape, lower) ? lower : undefined;
      if (known === undefined) {
        if (!parsed.usedVariables.has(pathKey(childOrig))) {
          const at = parsed.locs.get(pathKey(childOrig)) ?? loc ?? { file: parsed.file, line: 0 };
          const key = pathLabel([...path, k]);
          if (inStrictBlock([...path, k])) {
            refused.push({ ...at, key, message: `${key}: unknown key in a security block; refusing to start rather than ignore it` });
          } else {
            warnings.push({ ...at, key, message: `unknown configuration key "${key}" (ignored)` });
          }
        }
        continue;
      }
      const child = shape[known];
      if (child === unsupported) {
        const at = parsed.locs.get(pathKey(childOrig)) ?? loc ?? { file: parsed.file, line: 0 };
        const key = pathLabel([...path, known]);
        warnings.push({ ...at, key, message: `"${key}" is not supported by Petrel yet (ignored)` });
        continue;
      }
      out[known] = canonicalize(parsed, child, v, childOrig, [...path, known], locs, found);
    }
    return out;
  }
  const element = elementFor(schema);
  if (element && Array.isArray(value)) {
    return value.map((v, i) => canonicalize(parsed, element, v, [...origPath, i], [...path, i], locs, found));
  }
  return value;
}
