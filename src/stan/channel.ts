/**
 * A NATS Streaming channel: its messages live in one stream of Petrel's stream engine (`Stream`, so every stored
 * message goes through the engine's one `apply`), and its subscriptions are delivery groups over that stream.
 *
 * A group is the cursor (`lastSent`) that one plain subscription, or all members of a queue group, advance
 * together; each member has its own unacknowledged messages (`pending`), at most `maxInflight` of them, each
 * redelivered with the redelivered flag after `ackWait`. A durable group outlives its members: closed, its
 * cursor and unacknowledged messages are kept (and stored, so they survive a server restart) until a
 * subscriber with the same durable name resumes it; unsubscribed, it is gone. Every group is stored with its
 * members (coalesced, one write per batch), so a restarted server goes on serving the clients it had.
 */
import type { Clock, Timer } from "../runtime/clock.ts";
import type { StoredMsg } from "../jetstream/store/types.ts";
import type { StorageProvider } from "../jetstream/store/types.ts";
import type { Stream } from "../jetstream/stream.ts";
import type { ChannelLimits } from "../config/streaming.ts";

export interface PendingMsg {
  /** When it is redelivered if not acknowledged (ms since the epoch). */
  deadline: number;
  /** How many times it was redelivered. */
  count: number;
}

/** One subscriber (a client's subscription, or one member of a queue group). */
export class Sub {
  readonly pending = new Map<number, PendingMsg>();
  timer: Timer | undefined;
  constructor(
    readonly clientID: string,
    /** Where its messages go. */
    readonly inbox: string,
    /** Where it acknowledges (identifies it in unsubscribe/close requests). */
    readonly ackInbox: string,
    readonly group: Group,
    public maxInflight: number,
    /** ms */
    public ackWait: number,
  ) {}
}

/** Who a new member is. */
export interface MemberSpec {
  clientID: string;
  inbox: string;
  ackInbox: string;
  maxInflight: number;
  /** ms */
  ackWait: number;
}

/** A change of a channel's subscription state (see `Channel.apply`). Members are named by their ack inbox. */
export type ChannelEntry =
  /** A subscriber joins group `key`, which starts at cursor `start` if it is new. */
  | { op: "join"; key: string; durable?: string; qgroup?: string; start: number; member: MemberSpec }
  /** A subscriber leaves; its unacknowledged messages wait in the group (kept by a closed durable alone). */
  | { op: "leave"; to: string; keep: boolean }
  /** Group `key`'s cursor moves to `seq`; member `to` (none for a gap) owes an ack for it by `ts` + ack wait. */
  | { op: "deliver"; key: string; seq: number; to?: string; ts: number }
  /** Member `to` got `seq` again (redelivery or hand-over), its `count`th time, due by `ts` + ack wait. */
  | { op: "redeliver"; to: string; seq: number; count: number; ts: number }
  /** Member `to` no longer owes `seq` (acknowledged, or the message is gone). */
  | { op: "ack"; to: string; seq: number };

/** Takes `seq` out of a group's parked messages; says whether it was there. */
function unpark(g: Group, seq: number): boolean {
  const i = g.parked.indexOf(seq);
  if (i < 0) return false;
  g.parked.splice(i, 1);
  return true;
}

/** A member as it is stored: enough to go on delivering to it after a restart. */
export interface SavedMember {
  clientID: string;
  inbox: string;
  ackInbox: string;
  maxInflight: number;
  ackWait: number;
  /** Unacknowledged sequences as [first, last] ranges (mostly one range: they are sent in order). */
  pending: Array<[number, number]>;
}

/** A group as it is stored (meta record `g.<key>` of the channel's stream). */
export interface SavedGroup {
  key: string;
  durable?: string;
  qgroup?: string;
  clientID: string;
  lastSent: number;
  parked: Array<[number, number]>;
  members: SavedMember[];
}

/** Sorted sequences as ranges, and back. */
export function toRanges(seqs: number[]): Array<[number, number]> {
  const sorted = [...seqs].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s === last[1] + 1) last[1] = s;
    else if (!last || s > last[1]) out.push([s, s]);
  }
  return out;
}
export function fromRanges(r: Array<[number, number]>): number[] {
  const out: number[] = [];
  for (const [a, b] of r) for (let s = a; s <= b; s++) out.push(s);
  return out;
}

export class Group {
  readonly members: Sub[] = [];
  /** Unacknowledged messages of a durable nobody is attached to: redelivered when it is resumed. */
  parked: number[] = [];
  #rr = 0;
  #lastSent: number;
  constructor(
    readonly channel: string,
    readonly key: string,
    readonly durable: string | undefined,
    readonly qgroup: string | undefined,
    /** The client that created it (for a plain durable: the only client that may resume it). */
    readonly clientID: string,
    lastSent: number,
  ) {
    this.#lastSent = lastSent;
  }

  get lastSent(): number {
    return this.#lastSent;
  }
  set lastSent(seq: number) {
    // The cursor only moves forward: going back would deliver messages twice as new.
    if (seq < this.#lastSent) throw new Error(`stan group ${this.key}: lastSent ${seq} < ${this.#lastSent}`);
    this.#lastSent = seq;
  }

  /** The next member with room for one more message, round-robin. */
  nextWithRoom(): Sub | undefined {
    const n = this.members.length;
    for (let i = 0; i < n; i++) {
      const s = this.members[(this.#rr + i) % n];
      if (s.pending.size < s.maxInflight) {
        this.#rr = (this.#rr + i + 1) % n;
        return s;
      }
    }
    return undefined;
  }

  /** Any member, round-robin (to hand over a departing member's messages). */
  nextAny(): Sub | undefined {
    if (this.members.length === 0) return undefined;
    const s = this.members[this.#rr % this.members.length];
    this.#rr = (this.#rr + 1) % this.members.length;
    return s;
  }
}

/** What a channel needs from the server: time, the wire, and persistence scheduling. */
export interface ChannelHost {
  readonly clock: Clock;
  /** Sends a stored message to a subscriber. */
  send(sub: Sub, m: StoredMsg, redelivered: boolean, count: number): void;
  /** An entry was applied here first (not replayed): clustered mode replicates it to the other nodes. */
  applied?(channel: Channel, e: ChannelEntry): void;
}

export class Channel {
  readonly groups = new Map<string, Group>();
  /** Every member of every group, by ack inbox. */
  readonly #members = new Map<string, Sub>();
  readonly #dirty = new Set<Group>();
  #flushQueued = false;

  constructor(
    readonly name: string,
    readonly stream: Stream,
    readonly storage: StorageProvider,
    readonly limits: ChannelLimits,
    readonly host: ChannelHost,
  ) {}

  /** Subscriptions counted against max_subs: every member, and every durable nobody is attached to. */
  subCount(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.length > 0 ? g.members.length : 1;
    return n;
  }

  /**
   * Restores the groups stored with the channel (a snapshot, after a restart) and returns the members that
   * came back. `alive` says whether a stored member's client was restored: if not, a durable keeps the member's
   * unacknowledged messages for its next subscriber, anything else loses the member.
   */
  loadGroups(alive: (m: SavedMember) => boolean): Sub[] {
    const back: Sub[] = [];
    for (const [, raw] of this.storage.listMeta(this.stream.name, "g.")) {
      let d: SavedGroup;
      try {
        d = JSON.parse(raw) as SavedGroup;
      } catch {
        continue;
      }
      const g = new Group(this.name, d.key, d.durable, d.qgroup, d.clientID, d.lastSent);
      g.parked = fromRanges(d.parked).filter((s) => s <= d.lastSent);
      this.groups.set(d.key, g);
      const now = this.host.clock.now();
      for (const m of d.members) {
        const seqs = fromRanges(m.pending).filter((s) => s <= d.lastSent);
        if (!alive(m)) {
          if (g.durable !== undefined) g.parked.push(...seqs);
          continue;
        }
        const sub = new Sub(m.clientID, m.inbox, m.ackInbox, g, m.maxInflight, m.ackWait);
        g.members.push(sub);
        this.#members.set(m.ackInbox, sub);
        back.push(sub);
        // Their ack wait starts again: the subscriber may have acknowledged while the server was away.
        for (const seq of seqs) sub.pending.set(seq, { deadline: now + sub.ackWait, count: 0 });
        this.#arm(sub);
      }
      g.parked.sort((a, b) => a - b);
      if (g.members.length === 0 && g.durable === undefined) {
        this.groups.delete(g.key);
        this.storage.deleteMeta(this.stream.name, `g.${g.key}`);
        continue;
      }
      this.markDirty(g);
      // A gone member's messages go to the members that are back.
      if (g.members.length > 0) {
        for (const seq of [...g.parked]) {
          const to = g.nextAny();
          if (to) this.#resend(to, seq, 1);
        }
      }
    }
    return back;
  }

  /** The cursor for a new group, from a subscription's start position (nats-streaming-server's rules). */
  startCursor(position: number, startSequence: number, startTimeDeltaNs: number): number {
    const last = this.stream.lastSequence;
    const first = this.stream.firstSequence;
    switch (position) {
      case 1: // last received
        return last > 0 && first <= last ? last - 1 : last;
      case 2: { // time delta
        const since = this.host.clock.now() - Math.floor(startTimeDeltaNs / 1_000_000);
        return this.stream.seqForTime(since) - 1;
      }
      case 3: // at sequence: clamped to what is stored
        if (startSequence < first) return first - 1;
        if (startSequence > last) return last;
        return startSequence - 1;
      case 4: // all available
        return first - 1;
      default: // new only
        return last;
    }
  }

  /**
   * The one door for subscription state: every change of a group, a member or an unacknowledged message is an
   * entry applied here. It is deterministic (time comes in the entry, the member in `to` was chosen by the
   * caller) and does no I/O but the store's records, so replaying the same entries gives the same state.
   * Sending messages and arming ack timers are the caller's effects, after the entry is applied.
   * `replayed`: the entry comes from another node's log (clustered mode), so it is not handed on again.
   */
  apply(e: ChannelEntry, replayed = false): Sub | undefined {
    const sub = this.#applyEntry(e);
    // An entry that changed nothing changes nothing on the other nodes either (they hold the same state).
    if (!replayed && (sub !== undefined || e.op === "deliver")) this.host.applied?.(this, e);
    return sub;
  }

  #applyEntry(e: ChannelEntry): Sub | undefined {
    switch (e.op) {
      case "join": {
        let g = this.groups.get(e.key);
        if (g === undefined) {
          g = new Group(this.name, e.key, e.durable, e.qgroup, e.member.clientID, e.start);
          this.groups.set(e.key, g);
        }
        const m = e.member;
        const sub = new Sub(m.clientID, m.inbox, m.ackInbox, g, m.maxInflight, m.ackWait);
        g.members.push(sub);
        this.#members.set(m.ackInbox, sub);
        this.markDirty(g);
        return sub;
      }
      case "leave": {
        const sub = this.#members.get(e.to);
        if (sub === undefined) return undefined;
        const g = sub.group;
        this.#members.delete(e.to);
        g.members.splice(g.members.indexOf(sub), 1);
        // Its unacknowledged messages wait in the group: for the other members, or a resumed durable.
        g.parked = [...g.parked, ...sub.pending.keys()].sort((x, y) => x - y);
        sub.pending.clear();
        if (g.members.length === 0 && !(g.durable !== undefined && e.keep)) {
          this.groups.delete(g.key);
          this.#dirty.delete(g);
          this.storage.deleteMeta(this.stream.name, `g.${g.key}`);
        } else this.markDirty(g);
        return sub;
      }
      case "deliver": {
        const g = this.groups.get(e.key);
        if (g === undefined) throw new Error(`stan channel ${this.name}: deliver to unknown group ${e.key}`);
        g.lastSent = e.seq;
        const sub = e.to !== undefined ? this.#members.get(e.to) : undefined;
        if (sub) sub.pending.set(e.seq, { deadline: e.ts + sub.ackWait, count: 0 });
        this.markDirty(g);
        return sub;
      }
      case "redeliver": {
        const sub = this.#members.get(e.to);
        if (sub === undefined) return undefined;
        unpark(sub.group, e.seq);
        sub.pending.set(e.seq, { deadline: e.ts + sub.ackWait, count: e.count });
        this.markDirty(sub.group);
        return sub;
      }
      case "ack": {
        const sub = this.#members.get(e.to);
        if (sub === undefined) return undefined;
        const had = sub.pending.delete(e.seq);
        if (!had && !unpark(sub.group, e.seq)) return undefined;
        this.markDirty(sub.group);
        return sub;
      }
    }
  }

  /** A subscriber joins its group (created at `start` when new), gets the group's parked messages, then new ones. */
  join(key: string, durable: string | undefined, qgroup: string | undefined, start: number, member: MemberSpec): Sub {
    const sub = this.apply({ op: "join", key, durable, qgroup, start, member });
    if (sub === undefined) throw new Error(`stan channel ${this.name}: join of ${member.ackInbox} failed`);
    for (const seq of [...sub.group.parked]) this.#resend(sub, seq, 1);
    this.pump(sub.group);
    return sub;
  }

  /**
   * A subscriber leaves. Its unacknowledged messages go to the other members; with none left, a durable that
   * is only closed keeps them (parked), anything else is forgotten.
   */
  leave(sub: Sub, keepDurable: boolean): void {
    sub.timer?.cancel();
    sub.timer = undefined;
    if (this.apply({ op: "leave", to: sub.ackInbox, keep: keepDurable }) === undefined) return;
    const g = sub.group;
    if (g.members.length === 0) return;
    for (const seq of [...g.parked]) {
      const to = g.nextAny();
      if (to) this.#resend(to, seq, 1);
    }
    this.pump(g);
  }

  /**
   * This node starts serving the channel (clustered mode: it became the leader). Every member's unacknowledged
   * messages are sent again at once, flagged, in order, before anything new, as nats-streaming-server's new
   * leader does: the old leader may have died with them in its socket buffers (logged as sent, never received),
   * and waiting out their ack wait would deliver them after newer messages. Then what is stored and not yet
   * sent goes out.
   */
  resume(): void {
    for (const g of this.groups.values()) {
      for (const s of g.members) {
        s.timer?.cancel();
        s.timer = undefined;
        const owed = [...s.pending].sort((a, b) => a[0] - b[0]);
        for (const [seq, p] of owed) this.#resend(s, seq, p.count + 1);
        this.#arm(s);
      }
    }
    this.pumpAll();
  }

  /** This node stops serving the channel (it lost the leadership): no timer of its may act any more. */
  suspend(): void {
    for (const g of this.groups.values()) {
      for (const s of g.members) {
        s.timer?.cancel();
        s.timer = undefined;
      }
    }
  }

  /** Delivers new messages to a group while its members have room. */
  pump(g: Group): void {
    const last = this.stream.lastSequence;
    while (g.lastSent < last) {
      const sub = g.nextWithRoom();
      if (sub === undefined) break;
      const seq = Math.max(g.lastSent + 1, this.stream.firstSequence);
      if (seq > last) break;
      const m = this.stream.load(seq);
      // A message removed by a limit: the cursor skips the gap, nobody owes an ack for it.
      this.apply({ op: "deliver", key: g.key, seq, to: m ? sub.ackInbox : undefined, ts: this.host.clock.now() });
      if (m === undefined) continue;
      this.host.send(sub, m, false, 0);
      this.#arm(sub);
    }
  }

  /** New messages were stored: every group with members gets them. */
  pumpAll(): void {
    for (const g of this.groups.values()) if (g.members.length > 0) this.pump(g);
  }

  ack(sub: Sub, seq: number): void {
    if (this.apply({ op: "ack", to: sub.ackInbox, seq }) === undefined) return;
    if (sub.pending.size === 0) {
      sub.timer?.cancel();
      sub.timer = undefined;
    }
    this.pump(sub.group);
  }

  /** Sends a message again (or for the first time to this member), flagged redelivered, its `count`th time. */
  #resend(sub: Sub, seq: number, count: number): void {
    const m = this.stream.load(seq);
    if (m === undefined) {
      // Gone (limits): nothing left to redeliver, nobody owes an ack for it.
      this.apply({ op: "ack", to: sub.ackInbox, seq });
      return;
    }
    this.apply({ op: "redeliver", to: sub.ackInbox, seq, count, ts: this.host.clock.now() });
    this.host.send(sub, m, true, count);
    this.#arm(sub);
  }

  #arm(sub: Sub): void {
    if (sub.timer !== undefined) return;
    let next = Infinity;
    for (const p of sub.pending.values()) if (p.deadline < next) next = p.deadline;
    if (next === Infinity) return;
    sub.timer = this.host.clock.after(next - this.host.clock.now(), () => {
      sub.timer = undefined;
      this.#redeliver(sub);
    });
  }

  /** The ack wait of some messages passed: send them again, flagged. */
  #redeliver(sub: Sub): void {
    if (this.#members.get(sub.ackInbox) !== sub) return;
    const now = this.host.clock.now();
    const due: Array<[number, number]> = [];
    for (const [seq, p] of sub.pending) if (p.deadline <= now) due.push([seq, p.count]);
    due.sort((a, b) => a[0] - b[0]);
    const before = sub.pending.size;
    for (const [seq, count] of due) this.#resend(sub, seq, count + 1);
    this.#arm(sub);
    if (sub.pending.size < before) this.pump(sub.group);
  }

  /** A group's state changed: store it soon (coalesced: many sends and acks, one write). */
  markDirty(g: Group): void {
    this.#dirty.add(g);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.flushGroups());
  }

  /** Every group as it is stored (clustered mode: for a snapshot of the STAN state). */
  savedGroups(): SavedGroup[] {
    return [...this.groups.values()].map((g) => this.#saved(g));
  }

  /**
   * Clustered mode: the groups of a snapshot, as they were. Nothing is sent and no timer armed (the leader does
   * that when it starts serving); unacknowledged messages are due one ack wait from now.
   */
  restoreGroups(saved: readonly SavedGroup[]): Sub[] {
    const back: Sub[] = [];
    const now = this.host.clock.now();
    for (const d of saved) {
      const g = new Group(this.name, d.key, d.durable, d.qgroup, d.clientID, d.lastSent);
      g.parked = fromRanges(d.parked);
      this.groups.set(d.key, g);
      for (const m of d.members) {
        const sub = new Sub(m.clientID, m.inbox, m.ackInbox, g, m.maxInflight, m.ackWait);
        g.members.push(sub);
        this.#members.set(m.ackInbox, sub);
        back.push(sub);
        for (const seq of fromRanges(m.pending)) sub.pending.set(seq, { deadline: now + sub.ackWait, count: 0 });
      }
      this.markDirty(g);
    }
    return back;
  }

  #saved(g: Group): SavedGroup {
    const saved: SavedGroup = {
      key: g.key,
      clientID: g.clientID,
      lastSent: g.lastSent,
      parked: toRanges(g.parked),
      members: g.members.map((m) => ({
        clientID: m.clientID,
        inbox: m.inbox,
        ackInbox: m.ackInbox,
        maxInflight: m.maxInflight,
        ackWait: m.ackWait,
        pending: toRanges([...m.pending.keys()]),
      })),
    };
    if (g.durable !== undefined) saved.durable = g.durable;
    if (g.qgroup !== undefined) saved.qgroup = g.qgroup;
    return saved;
  }

  flushGroups(): void {
    this.#flushQueued = false;
    for (const g of this.#dirty) {
      if (this.groups.get(g.key) !== g) continue;
      this.storage.putMeta(this.stream.name, `g.${g.key}`, JSON.stringify(this.#saved(g)));
    }
    this.#dirty.clear();
  }

  close(): void {
    this.flushGroups();
    for (const g of this.groups.values()) {
      for (const s of g.members) {
        s.timer?.cancel();
        s.timer = undefined;
      }
    }
    this.stream.close();
  }
}
