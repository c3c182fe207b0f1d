// The same configuration written in YAML: plain values plus the line of every key, like conf_parser.ts.

import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "@std/yaml";
import {
  type ConfigError,
  type ConfMap,
  type ConfPath,
  type ConfValue,
  type ParsedConfig,
  pathKey,
  pathLabel,
  type Result,
  type SourceLoc,
} from "./types.ts";

type YamlDoc = ReturnType<typeof parseDocument>;

/** Parse YAML text. Never throws: problems come back as `{ ok: false, error }` with file and line. */
export function parseYamlConfig(text: string, file = "<config>"): Result<ParsedConfig> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    return { ok: false, error: { file, line, message: `YAML: ${e.message.split("\n")[0]}` } };
  }
  const locs = new Map<string, SourceLoc>();
  const lineOf = (n: { range?: [number, number, number] | null } | null | undefined): number =>
    n?.range ? lc.linePos(n.range[0]).line : 0;
  let failure: ConfigError | undefined;

  const convert = (node: unknown, path: ConfPath, line: number, depth: number): ConfValue | undefined => {
    if (failure) return undefined;
    if (depth > 128) {
      failure = { file, line, message: "configuration nested too deeply" };
      return undefined;
    }
    if (isAlias(node)) return convert(node.resolve(doc as YamlDoc), path, line, depth + 1);
    if (isMap(node)) {
      const out: ConfMap = {};
      for (const pair of node.items) {
        const keyNode = pair.key;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        const keyLine = isScalar(keyNode) ? lineOf(keyNode) : line;
        const childPath = [...path, key];
        locs.set(pathKey(childPath), { file, line: keyLine });
        const v = convert(pair.value, childPath, keyLine, depth + 1);
        if (v === undefined) return undefined;
        Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    if (isSeq(node)) {
      const out: ConfValue[] = [];
      node.items.forEach((item, i) => {
        const itemLine = lineOf(item as Node) || line;
        locs.set(pathKey([...path, i]), { file, line: itemLine });
        const v = convert(item, [...path, i], itemLine, depth + 1);
        if (v !== undefined) out.push(v);
      });
      return failure ? undefined : out;
    }
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === "string" || typeof v === "boolean") return v;
      if (typeof v === "number") return v;
      if (typeof v === "bigint") return Number(v);
      if (v === null || v === undefined) {
        failure = { file, line, key: pathLabel(path), message: `${pathLabel(path)}: a value is required` };
        return undefined;
      }
      return String(v);
    }
    if (node === null || node === undefined) {
      failure = { file, line, key: pathLabel(path), message: `${pathLabel(path)}: a value is required` };
      return undefined;
    }
    failure = { file, line, message: "unsupported YAML node" };
    return undefined;
  };

  if (doc.contents === null) return { ok: true, value: { file, value: {}, locs, usedVariables: new Set() } };
  if (!isMap(doc.contents)) {
    return { ok: false, error: { file, line: lineOf(doc.contents as Node) || 1, message: "YAML: the top level must be a map" } };
  }
  const value = convert(doc.contents, [], 1, 0);
  if (failure) return { ok: false, error: failure };
  return { ok: true, value: { file, value: value as ConfMap, locs, usedVariables: new Set() } };
}
