/**
 * The value kinds of the zod-free config checks (config_plain.ts for API requests, stored_config.ts for what Petrel
 * stored itself), with one rule per kind as the zod schemas (config_schema.ts) have it: an int is a safe integer
 * (zod 4's int()), an enum is one of its listed strings.
 */
export type Kind = "string" | "int" | "bool" | "strings" | "ints" | "object" | "objects" | readonly string[];

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function fits(kind: Kind, v: unknown): boolean {
  if (typeof kind !== "string") return typeof v === "string" && kind.includes(v);
  switch (kind) {
    case "string":
      return typeof v === "string";
    case "int":
      return Number.isSafeInteger(v);
    case "bool":
      return typeof v === "boolean";
    case "strings":
      return Array.isArray(v) && v.every((x) => typeof x === "string");
    case "ints":
      return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x));
    case "object":
      return isObject(v);
    case "objects":
      return Array.isArray(v) && v.every(isObject);
  }
}
