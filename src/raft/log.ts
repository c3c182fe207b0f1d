/**
 * A node's view of its log: the latest snapshot plus the entries after it, with the boundary between what
 * storage already holds (`stable`) and what still has to be written. Membership is tracked here because a
 * configuration takes effect as soon as its entry is in the log, and must roll back if the entry is truncated.
 */
import type { Entry, Membership, Snapshot } from "./types.ts";

const EMPTY_MEMBERSHIP: Membership = { voters: [], observers: [] };

export class RaftLog {
  snapshot: Snapshot | null = null;
  snapIndex = 0;
  snapTerm = 0;
  snapMembership: Membership = EMPTY_MEMBERSHIP;
  /** entries[i].index === snapIndex + 1 + i */
  entries: Entry[] = [];
  /** Highest index already handed to storage. */
  stable = 0;
  /** Configuration entries among `entries`, in index order. */
  confs: Entry[] = [];

  static restore(snapshot: Snapshot | null, entries: readonly Entry[], initial: Membership): RaftLog {
    const log = new RaftLog();
    if (snapshot) {
      log.snapshot = snapshot;
      log.snapIndex = snapshot.meta.index;
      log.snapTerm = snapshot.meta.term;
      log.snapMembership = snapshot.meta.membership;
    } else {
      log.snapMembership = initial;
    }
    for (const e of entries) {
      if (e.index <= log.snapIndex) continue;
      log.entries.push(e);
      if (e.kind === "conf") log.confs.push(e);
    }
    log.stable = log.lastIndex();
    return log;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    const n = this.entries.length;
    return n === 0 ? this.snapTerm : this.entries[n - 1].term;
  }

  /** Term at `index`, or -1 when the entry is compacted away or does not exist. */
  termAt(index: number): number {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex) return -1;
    const e = this.entries[index - this.snapIndex - 1];
    return e === undefined ? -1 : e.term;
  }

  entry(index: number): Entry | undefined {
    return index > this.snapIndex ? this.entries[index - this.snapIndex - 1] : undefined;
  }

  /** Entries in [lo, hi], clipped to what the log holds. */
  slice(lo: number, hi: number): Entry[] {
    const a = Math.max(lo, this.snapIndex + 1) - this.snapIndex - 1;
    const b = Math.min(hi, this.lastIndex()) - this.snapIndex;
    return a < b ? this.entries.slice(a, b) : [];
  }

  matchTerm(index: number, term: number): boolean {
    return this.termAt(index) === term;
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  membership(): Membership {
    const n = this.confs.length;
    return n === 0 ? this.snapMembership : this.confs[n - 1].conf ?? EMPTY_MEMBERSHIP;
  }

  /** The membership in force at `index` (for snapshot metadata). */
  membershipAt(index: number): Membership {
    for (let i = this.confs.length - 1; i >= 0; i--) {
      const c = this.confs[i];
      if (c.index <= index) return c.conf ?? EMPTY_MEMBERSHIP;
    }
    return this.snapMembership;
  }

  /** Index of the newest configuration entry (0 if it came from the snapshot or the initial config). */
  lastConfIndex(): number {
    const n = this.confs.length;
    return n === 0 ? 0 : this.confs[n - 1].index;
  }

  /** Append after the last entry (leader path). */
  push(e: Entry): void {
    this.entries.push(e);
    if (e.kind === "conf") this.confs.push(e);
  }

  /**
   * Follower path: entries that follow `prevIndex` (already checked to match). Existing entries that agree are
   * kept; from the first conflict on, the log is replaced. Returns false when nothing changed.
   */
  merge(entries: readonly Entry[]): void {
    let i = 0;
    for (; i < entries.length; i++) {
      const e = entries[i];
      if (e.index <= this.snapIndex) continue;
      const t = this.termAt(e.index);
      if (t !== e.term) break;
    }
    if (i === entries.length) return;
    const first = entries[i].index;
    if (first <= this.lastIndex()) this.truncateFrom(first);
    for (; i < entries.length; i++) this.push(entries[i]);
  }

  truncateFrom(index: number): void {
    this.entries.length = index - this.snapIndex - 1;
    while (this.confs.length > 0 && this.confs[this.confs.length - 1].index >= index) this.confs.pop();
    if (this.stable >= index) this.stable = index - 1;
  }

  /** Entries not yet handed to storage. */
  unstable(): Entry[] {
    return this.slice(this.stable + 1, this.lastIndex());
  }

  /** Drop entries covered by `snap` (local compaction; entries after it stay). */
  compact(snap: Snapshot): void {
    const idx = snap.meta.index;
    const drop = idx - this.snapIndex;
    this.entries = this.entries.slice(drop);
    this.confs = this.confs.filter((c) => c.index > idx);
    this.snapshot = snap;
    this.snapIndex = idx;
    this.snapTerm = snap.meta.term;
    this.snapMembership = snap.meta.membership;
  }

  /** Replace everything by a snapshot received from the leader. */
  install(snap: Snapshot): void {
    this.entries = [];
    this.confs = [];
    this.snapshot = snap;
    this.snapIndex = snap.meta.index;
    this.snapTerm = snap.meta.term;
    this.snapMembership = snap.meta.membership;
    this.stable = snap.meta.index;
  }
}
