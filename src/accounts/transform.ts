/**
 * Subject mapping for imports, as nats-server's import transforms do it: a source pattern (`*`, `>`) and a
 * destination where `*` takes the source's wildcard tokens in order, `$n` / `{{wildcard(n)}}` names the n-th,
 * `>` takes the rest. Compiled once per import; applied to a literal subject that matched the source.
 */

export type SubjectTransform = (subject: string) => string;

const WILDCARD_REF = /^(?:\$(\d+)|\{\{\s*wildcard\s*\(\s*(\d+)\s*\)\s*\}\})$/i;

/** The identity when source and destination are the same. */
export function compileTransform(source: string, dest: string): SubjectTransform {
  if (source === dest) return (s) => s;
  const src = source.split(".");
  const starAt: number[] = [];
  src.forEach((t, i) => {
    if (t === "*") starAt.push(i);
  });
  const fullAt = src.at(-1) === ">" ? src.length - 1 : -1;
  let nextStar = 0;
  const parts: Array<{ literal: string } | { star: number } | { rest: true }> = dest.split(".").map((t) => {
    if (t === ">") return { rest: true as const };
    if (t === "*") return { star: nextStar++ };
    const m = WILDCARD_REF.exec(t);
    if (m !== null) return { star: Number(m[1] ?? m[2]) - 1 };
    return { literal: t };
  });
  for (const p of parts) {
    if ("star" in p && (p.star < 0 || p.star >= starAt.length)) throw new Error(`invariant: transform ${source} -> ${dest} names a missing wildcard`);
    if ("rest" in p && fullAt < 0) throw new Error(`invariant: transform ${source} -> ${dest} maps ">" without one in the source`);
  }
  return (subject) => {
    const toks = subject.split(".");
    const out: string[] = [];
    for (const p of parts) {
      if ("literal" in p) out.push(p.literal);
      else if ("star" in p) out.push(toks[starAt[p.star]]);
      else out.push(...toks.slice(fullAt));
    }
    return out.join(".");
  };
}

/** A stream import's `prefix`: the exporter's subject under `<prefix>.`. */
export function prefixTransform(prefix: string): SubjectTransform {
  const p = prefix.endsWith(".") ? prefix : `${prefix}.`;
  return (s) => p + s;
}
