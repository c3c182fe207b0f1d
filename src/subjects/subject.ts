/**
 * Subject syntax. A subject is a dot-separated list of non-empty tokens without white space. Subscriptions may
 * use `*` (one token) and `>` (one or more trailing tokens) as whole tokens; publish subjects may not.
 */

const DOT = 46;
const STAR = 42;
const GT = 62;

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12;
}

/** A subject usable in SUB: tokens non-empty, wildcards only as whole tokens, `>` only last. */
export function isValidSubject(subject: string): boolean {
  const n = subject.length;
  if (n === 0) return false;
  let tokenStart = 0;
  let sawFwc = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? subject.charCodeAt(i) : DOT;
    if (c === DOT) {
      const len = i - tokenStart;
      if (len === 0 || sawFwc) return false;
      if (len === 1) {
        const t = subject.charCodeAt(tokenStart);
        if (t === GT) sawFwc = true;
      }
      tokenStart = i + 1;
    } else if (isSpace(c)) {
      return false;
    }
  }
  return true;
}

/** A subject usable in PUB: valid and without wildcard tokens. */
export function isValidPublishSubject(subject: string): boolean {
  return isValidSubject(subject) && isLiteral(subject);
}

/** True when no token is a wildcard. */
export function isLiteral(subject: string): boolean {
  const n = subject.length;
  for (let i = 0; i < n; i++) {
    const c = subject.charCodeAt(i);
    if (c === STAR || c === GT) {
      const startOk = i === 0 || subject.charCodeAt(i - 1) === DOT;
      const endOk = i + 1 === n || subject.charCodeAt(i + 1) === DOT;
      if (startOk && endOk) return false;
    }
  }
  return true;
}

/** Queue group names: non-empty, no white space. */
export function isValidQueueName(queue: string): boolean {
  if (queue.length === 0) return false;
  for (let i = 0; i < queue.length; i++) if (isSpace(queue.charCodeAt(i))) return false;
  return true;
}

/** Does the literal subject `subject` match the (possibly wildcard) `pattern`? */
export function subjectMatches(subject: string, pattern: string): boolean {
  const s = subject.split(".");
  const p = pattern.split(".");
  for (let i = 0; i < p.length; i++) {
    const pt = p[i];
    if (pt === ">") return s.length > i;
    if (i >= s.length) return false;
    if (pt !== "*" && pt !== s[i]) return false;
  }
  return s.length === p.length;
}

/**
 * Can any literal subject match both patterns? Used to reject overlapping stream subjects and to decide
 * which cached results an insert invalidates.
 */
export function subjectsIntersect(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const s = x[i];
    const t = y[i];
    if (s === ">" || t === ">") return true;
    if (s !== "*" && t !== "*" && s !== t) return false;
  }
  return x.length === y.length;
}

/** Is every subject matched by `sub` also matched by `sup`? (e.g. `a.b` in `a.*` in `a.>`) */
export function subjectIsSubsetOf(sub: string, sup: string): boolean {
  const x = sub.split(".");
  const y = sup.split(".");
  for (let i = 0; i < y.length; i++) {
    const t = y[i];
    if (t === ">") return x.length > i;
    if (i >= x.length) return false;
    const s = x[i];
    if (s === ">") return false;
    if (t === "*") continue;
    if (s === "*" || s !== t) return false;
  }
  return x.length === y.length;
}
