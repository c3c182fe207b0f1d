/**
 * The subscription index: a trie of subject tokens with a bounded match cache. Generic over what a
 * subscription is, so client subscriptions, route interest, gateway interest and JetStream's internal
 * subscriptions share one structure.
 */

export interface Subscribable {
  readonly subject: string;
  /** Queue group, undefined for a plain subscription. */
  readonly queue?: string;
}

/** What a literal subject matches: every plain subscription, and the members of each queue group. */
export interface MatchResult<T> {
  readonly psubs: readonly T[];
  readonly qsubs: readonly (readonly T[])[];
}

interface Node<T> {
  next: Level<T> | undefined;
  psubs: Set<T>;
  qsubs: Map<string, Set<T>>;
  /**
   * `psubs` as an array, and a match result holding just it: built by the first match after a change (never
   * mutated after), so a match that meets one node with plain subscriptions (a reply inbox's `_INBOX.x.*`, a
   * stream's subject) allocates no array, no iterator and no result of its own.
   */
  plist: readonly T[] | undefined;
  only: MatchResult<T> | undefined;
}

interface CacheEntry<T> {
  readonly subject: string;
  readonly result: MatchResult<T>;
}

interface Level<T> {
  nodes: Map<string, Node<T>>;
  pwc: Node<T> | undefined;
  fwc: Node<T> | undefined;
  /**
   * With at most FEW literal tokens: their keys and nodes as arrays, built by the first match after a change. A
   * match then compares the subject's token in place instead of slicing it for the Map: a unique subject (a
   * reply inbox, one per request) made a string per token per match, garbage every young collection walks.
   */
  keys: string[] | undefined;
  vals: Node<T>[] | undefined;
}

/** Levels with this many literal tokens or fewer are matched without slicing the subject (see Level.keys). */
const FEW = 8;

function newLevel<T>(): Level<T> {
  return { nodes: new Map(), pwc: undefined, fwc: undefined, keys: undefined, vals: undefined };
}

const CACHE_MAX = 4096;
/** Slots of the cache's doorkeeper (a power of two); see `match`. */
const DOOR_SLOTS = 4096;

/**
 * Every match result has one hidden class, and so has every list in one (V8): readers of a result on the publish
 * path (Account.interestIn, the client's #publish, the router) are compiled for the shapes they have seen, and a
 * result of another shape throws that code away (`--trace-deopt`: `interestIn` "wrong map" inside a sync-publish
 * run when the first subject nobody wanted, a STATSZ heartbeat's, met the frozen empty result after the router's
 * readers were optimized, then compiled again). So no frozen objects or arrays here (a frozen array, a literal `[]`
 * and a spread list are three array classes): the empty lists come from spreading, as every real list does, and
 * results are made by `matched` only. Nothing writes to a result or its lists (readonly types).
 */
const NO_SUBS: readonly never[] = [...new Set<never>()];
const NO_QUEUES: readonly never[] = [...new Set<never>()];

function matched<T>(psubs: readonly T[], qsubs: readonly (readonly T[])[]): MatchResult<T> {
  return { psubs, qsubs };
}

const EMPTY: MatchResult<never> = matched(NO_SUBS, NO_QUEUES);

function isEmptyNode<T>(n: Node<T>): boolean {
  return n.psubs.size === 0 && n.qsubs.size === 0 && (n.next === undefined || isEmptyLevel(n.next));
}

function isEmptyLevel<T>(l: Level<T>): boolean {
  return l.nodes.size === 0 && l.pwc === undefined && l.fwc === undefined;
}

export class Sublist<T extends Subscribable> {
  #root: Level<T> = newLevel();
  /**
   * Keyed by `subjectHash`, not by the subject string: on Deno (V8) a Map lookup by a fresh string (a subject just
   * decoded from the wire) followed by splitting that string cost 2-6 us per match, against ~0.3 us without the
   * string lookup (a unique PubAck inbox per message: js-r1-async spent a third of its CPU here). An entry keeps
   * its subject; another subject with the same hash is a miss and replaces it.
   */
  #cache = new Map<number, CacheEntry<T>>();
  /** Hashes of subjects that missed the cache once (one per slot): the second miss is let in. */
  #door = new Int32Array(DOOR_SLOTS);
  #count = 0;
  /** What a match collects, reused (a match runs to its end before the next one starts). */
  readonly #found: Found<T> = { single: undefined, psubs: undefined, queues: undefined };
  /** Bumped on every change; lets callers cache derived data cheaply. */
  genId = 0;

  get count(): number {
    return this.#count;
  }

  insert(sub: T): void {
    this.insertAll([sub]);
  }

  /**
   * Inserts each of `subs` (present ones are skipped). One call for a batch: the system account's ~30 services
   * subscribe at every start, and a function called ~34 times (or looping ~500 times) gets compiled by Bun's
   * baseline JIT, whose code then stays resident (+1-1.5 MB idle). So the walk is inline here, with no helper
   * called per token or per node (test/footprint/jit_free_start.test.ts).
   */
  insertAll(subs: readonly T[]): void {
    let added = 0;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i];
      const subject = sub.subject;
      let level = this.#root;
      let node: Node<T>;
      let from = 0;
      // Tokens sliced as walked (no split); the last token's node gets no next level until a longer subject needs one.
      for (;;) {
        const dot = subject.indexOf(".", from);
        const t = dot === -1 ? (from === 0 ? subject : subject.slice(from)) : subject.slice(from, dot);
        let n = t === "*" ? level.pwc : t === ">" ? level.fwc : level.nodes.get(t);
        if (n === undefined) {
          n = { next: undefined, psubs: new Set(), qsubs: new Map(), plist: undefined, only: undefined };
          if (t === "*") level.pwc = n;
          else if (t === ">") level.fwc = n;
          else {
            level.nodes.set(t, n);
            level.keys = level.vals = undefined;
          }
        }
        node = n;
        if (dot === -1) break;
        level = n.next ??= newLevel();
        from = dot + 1;
      }
      if (sub.queue === undefined) {
        if (node.psubs.has(sub)) continue;
        node.psubs.add(sub);
        node.plist = undefined;
        node.only = undefined;
      } else {
        let set = node.qsubs.get(sub.queue);
        if (set === undefined) {
          set = new Set();
          node.qsubs.set(sub.queue, set);
        }
        if (set.has(sub)) continue;
        set.add(sub);
      }
      added++;
    }
    if (added === 0) return;
    this.#count += added;
    this.genId++;
    if (this.#cache.size > 0) for (let i = 0; i < subs.length; i++) this.#invalidate(subs[i].subject);
  }

  /** Returns false when the subscription was not present. */
  remove(sub: T): boolean {
    const tokens = sub.subject.split(".");
    const path: { level: Level<T>; token: string; node: Node<T> }[] = [];
    let level = this.#root;
    let node: Node<T> | undefined;
    for (const t of tokens) {
      node = t === "*" ? level.pwc : t === ">" ? level.fwc : level.nodes.get(t);
      if (node === undefined) return false;
      path.push({ level, token: t, node });
      if (node.next === undefined) {
        if (path.length !== tokens.length) return false;
        break;
      }
      level = node.next;
    }
    if (node === undefined) return false;
    let removed = false;
    if (sub.queue === undefined) {
      removed = node.psubs.delete(sub);
      node.plist = undefined;
      node.only = undefined;
    } else {
      const set = node.qsubs.get(sub.queue);
      if (set !== undefined) {
        removed = set.delete(sub);
        if (set.size === 0) node.qsubs.delete(sub.queue);
      }
    }
    if (!removed) return false;
    // Prune empty branches so long-lived servers with churning subjects (inboxes) do not grow forever.
    for (let i = path.length - 1; i >= 0; i--) {
      const { level: l, token, node: n } = path[i];
      if (n.next !== undefined && isEmptyLevel(n.next)) n.next = undefined;
      if (!isEmptyNode(n)) break;
      if (token === "*") l.pwc = undefined;
      else if (token === ">") l.fwc = undefined;
      else {
        l.nodes.delete(token);
        l.keys = l.vals = undefined;
      }
    }
    this.#count--;
    this.genId++;
    this.#invalidate(sub.subject);
    return true;
  }

  /** All subscriptions interested in a literal subject. */
  match(subject: string): MatchResult<T> {
    const h = subjectHash(subject);
    const cached = this.#cache.get(h);
    if (cached !== undefined && cached.subject === subject) return cached.result;
    // Empty between matches (cleared below once read).
    const found = this.#found;
    matchLevel(this.#root, subject, 0, found);
    const { single, psubs, queues } = found;
    found.single = undefined;
    found.psubs = undefined;
    found.queues = undefined;
    let result: MatchResult<T>;
    if (queues === undefined) {
      result = psubs !== undefined ? matched(psubs, NO_QUEUES) : single !== undefined ? onlyOf(single) : EMPTY;
    } else {
      result = matched(psubs ?? (single !== undefined ? plistOf(single) : NO_SUBS), [...queues.values()]);
    }
    // Only a subject seen before is cached. Unique subjects (reply inboxes, one per request or PubAck) would
    // each hold an entry until the cache is next cleared: thousands of live objects that every young-generation
    // collection walks and then promotes, which is what makes its pauses long (the tails of sync publish and
    // request/reply). A repeated subject gets in on its second miss.
    const slot = h & (DOOR_SLOTS - 1);
    if (this.#door[slot] !== h) {
      this.#door[slot] = h;
      return result;
    }
    // Start over when full: evicting from the front of a Map one entry at a time slows down as deleted entries
    // pile up.
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
    this.#cache.set(h, { subject, result });
    return result;
  }

  /** Is anyone interested in this literal subject? */
  hasInterest(subject: string): boolean {
    const r = this.match(subject);
    return r.psubs.length + r.qsubs.length > 0; // both read on every call: see Account.interestIn
  }

  /** Every subscription, in no particular order. */
  all(): T[] {
    const out: T[] = [];
    collect(this.#root, out);
    return out;
  }

  cacheSize(): number {
    return this.#cache.size;
  }

  #invalidate(pattern: string): void {
    if (this.#cache.size === 0) return;
    for (const [h, e] of this.#cache) {
      if (literalMatches(e.subject, pattern)) this.#cache.delete(h);
    }
  }
}

/**
 * What a match collects: the one node with plain subscriptions met so far (`single`), or once a second one is
 * met all of them in an array of the match's own; the queue map only once a queue group is met (most matches
 * meet none).
 */
interface Found<T> {
  single: Node<T> | undefined;
  psubs: T[] | undefined;
  queues: Map<string, T[]> | undefined;
}

function plistOf<T>(n: Node<T>): readonly T[] {
  return n.plist ??= [...n.psubs];
}

function onlyOf<T>(n: Node<T>): MatchResult<T> {
  return n.only ??= matched(plistOf(n), NO_QUEUES);
}

function addNode<T extends Subscribable>(n: Node<T>, found: Found<T>): void {
  if (n.psubs.size > 0) {
    if (found.psubs !== undefined) {
      const list = plistOf(n);
      for (let i = 0; i < list.length; i++) found.psubs.push(list[i]);
    } else if (found.single === undefined) {
      found.single = n;
    } else {
      found.psubs = [...plistOf(found.single), ...plistOf(n)];
      found.single = undefined;
    }
  }
  if (n.qsubs.size === 0) return;
  const queues = found.queues ??= new Map();
  for (const [q, set] of n.qsubs) {
    let arr = queues.get(q);
    if (arr === undefined) {
      arr = [];
      queues.set(q, arr);
    }
    for (const s of set) arr.push(s);
  }
}

/** Matches the token of `subject` that starts at `from` (tokens are sliced as walked: no split, see #cache). */
function matchLevel<T extends Subscribable>(
  level: Level<T>,
  subject: string,
  from: number,
  found: Found<T>,
): void {
  const dot = subject.indexOf(".", from);
  const last = dot === -1;
  if (level.fwc !== undefined) addNode(level.fwc, found);
  if (level.pwc !== undefined) {
    if (last) addNode(level.pwc, found);
    else if (level.pwc.next !== undefined) matchLevel(level.pwc.next, subject, dot + 1, found);
  }
  const size = level.nodes.size;
  if (size === 0) return;
  let n: Node<T> | undefined;
  if (size <= FEW) {
    if (level.keys === undefined) {
      level.keys = Array.from(level.nodes.keys());
      level.vals = Array.from(level.nodes.values());
    }
    const keys = level.keys;
    const len = (last ? subject.length : dot) - from;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (k.length === len && subject.startsWith(k, from)) {
        n = (level.vals as Node<T>[])[i];
        break;
      }
    }
  } else n = level.nodes.get(last ? (from === 0 ? subject : subject.slice(from)) : subject.slice(from, dot));
  if (n !== undefined) {
    if (last) addNode(n, found);
    else if (n.next !== undefined) matchLevel(n.next, subject, dot + 1, found);
  }
}

function collect<T extends Subscribable>(level: Level<T>, out: T[]): void {
  const visit = (n: Node<T>) => {
    for (const s of n.psubs) out.push(s);
    for (const set of n.qsubs.values()) for (const s of set) out.push(s);
    if (n.next !== undefined) collect(n.next, out);
  };
  for (const n of level.nodes.values()) visit(n);
  if (level.pwc !== undefined) visit(level.pwc);
  if (level.fwc !== undefined) visit(level.fwc);
}

/** FNV-1a over the subject's UTF-16 units, never 0 (an empty doorkeeper slot). */
function subjectHash(subject: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < subject.length; i++) h = Math.imul(h ^ subject.charCodeAt(i), 0x01000193);
  return h === 0 ? 1 : h;
}

/** Literal subject against pattern, token by token without allocating. */
function literalMatches(subject: string, pattern: string): boolean {
  let si = 0;
  let pi = 0;
  const sn = subject.length;
  const pn = pattern.length;
  while (true) {
    const pe = nextDot(pattern, pi);
    const se = nextDot(subject, si);
    const plen = pe - pi;
    // `>` needs at least one more token, which the subject has: we only get here with si at a token start.
    if (plen === 1 && pattern.charCodeAt(pi) === 62) return true;
    if (!(plen === 1 && pattern.charCodeAt(pi) === 42)) {
      if (se - si !== plen) return false;
      for (let k = 0; k < plen; k++) if (subject.charCodeAt(si + k) !== pattern.charCodeAt(pi + k)) return false;
    }
    const pDone = pe >= pn;
    const sDone = se >= sn;
    if (pDone || sDone) return pDone && sDone;
    pi = pe + 1;
    si = se + 1;
  }
}

function nextDot(s: string, from: number): number {
  const i = s.indexOf(".", from);
  return i === -1 ? s.length : i;
}
