/**
 * The leader's view of one follower's log: how far it matches, what to send next, and whether to probe one
 * append at a time (after a rejection or a restart) or pipeline up to `maxInflight` appends holding less than
 * `maxInflightBytes` of entries (once they match): what a leader has on its way to a follower is bounded in bytes.
 */

export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** Probe: one append in flight; wait for its answer or the next heartbeat. */
  paused = false;
  /** Replicate: last index of each append in flight, oldest first. */
  inflight: number[] = [];
  /** Replicate: bytes of entry data of each append in flight (as `inflight`), and their sum. */
  inflightBytes: number[] = [];
  bytesInFlight = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  #matchAtLastBeat = -1;

  constructor(next: number) {
    this.next = next;
  }

  /** Another append may go out: fewer than `maxInflight` in flight, and less than `maxBytes` of entry data. */
  canSend(maxInflight: number, maxBytes = Infinity): boolean {
    if (this.state === "snapshot") return false;
    if (this.state === "probe") return !this.paused;
    return this.inflight.length < maxInflight && this.bytesInFlight < maxBytes;
  }

  /** An append covering up to `last` (or an empty probe, last = next - 1), `bytes` of entry data, went out. */
  sent(last: number, bytes = 0): void {
    if (this.state === "probe") {
      this.paused = true;
    } else if (last >= this.next) {
      this.next = last + 1;
      this.inflight.push(last);
      this.inflightBytes.push(bytes);
      this.bytesInFlight += bytes;
    }
  }

  /** The follower matches through `index`. Returns false for a stale answer. */
  acked(index: number): boolean {
    const progressed = index > this.match;
    if (progressed) this.match = index;
    if (this.next <= this.match) this.next = this.match + 1;
    let k = 0;
    while (k < this.inflight.length && this.inflight[k] <= index) this.bytesInFlight -= this.inflightBytes[k++];
    if (k > 0) {
      this.inflight.splice(0, k);
      this.inflightBytes.splice(0, k);
    }
    if (this.state !== "replicate") this.#become("replicate");
    return progressed;
  }

  /**
   * The follower rejected an append after `rejected`; its log ends at `hint`. Returns true when the leader
   * should probe again (false for stale or duplicated rejections).
   */
  rejected(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.#become("probe");
    } else if (this.state === "probe") {
      if (rejected !== this.next - 1) return false;
      this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1));
    } else {
      return false;
    }
    this.paused = false;
    this.#clearInflight();
    return true;
  }

  #clearInflight(): void {
    this.inflight = [];
    this.inflightBytes = [];
    this.bytesInFlight = 0;
  }

  /**
   * A heartbeat answer. If the follower is behind and made no progress since the previous one, appends (or
   * the snapshot) were lost: fall back to probing from its match.
   */
  heartbeat(lastIndex: number): void {
    this.recentActive = true;
    if (this.match < lastIndex && this.match === this.#matchAtLastBeat) this.#become("probe");
    this.#matchAtLastBeat = this.match;
    if (this.state === "probe") this.paused = false;
  }

  sendingSnapshot(): void {
    this.state = "snapshot";
  }

  #become(state: ProgressState): void {
    this.state = state;
    this.paused = false;
    this.#clearInflight();
    this.next = this.match + 1;
  }
}

/** The highest index stored by a majority of `matches` (one per voter). */
export function quorumMatch(matches: number[]): number {
  matches.sort((a, b) => b - a);
  return matches[Math.floor(matches.length / 2)];
}
