/**
 * A Porcupine-style linearizability checker for the KV history: the history is split per key
 * (P-compositionality), and each key's operations are searched Wing & Gong style, with memoization of
 * (set of linearized operations, state) pairs already shown to be dead ends.
 */

export type KvOp =
  | { readonly kind: "put"; readonly value: string }
  | { readonly kind: "get" }
  | { readonly kind: "cas"; readonly expect: string | null; readonly value: string };

export interface KvOutput {
  readonly value: string | null;
  readonly ok: boolean;
}

export interface HistoryOp {
  readonly key: string;
  readonly op: KvOp;
  /** Invocation time. */
  readonly call: number;
  /** Response time; Infinity when the outcome is unknown (it may or may not have taken effect). */
  readonly ret: number;
  /** Null when the outcome is unknown. */
  readonly output: KvOutput | null;
}

export type LinearizabilityResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly key: string; readonly ops: readonly HistoryOp[] };

type State = string | null;

function step(state: State, op: KvOp): { next: State; out: KvOutput } {
  switch (op.kind) {
    case "get":
      return { next: state, out: { value: state, ok: true } };
    case "put":
      return { next: op.value, out: { value: op.value, ok: true } };
    case "cas":
      return state === op.expect
        ? { next: op.value, out: { value: op.value, ok: true } }
        : { next: state, out: { value: state, ok: false } };
  }
}

/** Check one key's history starting from an absent value. Bounded by `budget` search steps. */
export function checkKey(ops: readonly HistoryOp[], budget = 1_000_000): boolean | "unknown" {
  const n = ops.length;
  const done = new Uint8Array(n);
  const dead = new Set<string>();
  let required = 0;
  for (const o of ops) if (o.output !== null) required++;
  let steps = 0;
  let exhausted = false;

  const search = (state: State, left: number): boolean => {
    if (left === 0) return true;
    if (++steps > budget) {
      exhausted = true;
      return false;
    }
    const memo = String(state) + "|" + done.join("");
    if (dead.has(memo)) return false;
    let minRet = Infinity;
    for (let i = 0; i < n; i++) if (!done[i] && ops[i].ret < minRet) minRet = ops[i].ret;
    for (let i = 0; i < n; i++) {
      if (done[i] || ops[i].call > minRet) continue;
      const o = ops[i];
      const { next, out } = step(state, o.op);
      if (o.output !== null && (o.output.value !== out.value || o.output.ok !== out.ok)) continue;
      done[i] = 1;
      const ok = search(next, o.output !== null ? left - 1 : left);
      done[i] = 0;
      if (ok) return true;
    }
    dead.add(memo);
    return false;
  };
  const ok = search(null, required);
  return ok ? true : exhausted ? "unknown" : false;
}

export function checkLinearizable(history: readonly HistoryOp[]): LinearizabilityResult {
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    const list = byKey.get(h.key);
    if (list) list.push(h);
    else byKey.set(h.key, [h]);
  }
  for (const [key, ops] of byKey) {
    if (checkKey(ops) === false) return { ok: false, key, ops };
  }
  return { ok: true };
}
