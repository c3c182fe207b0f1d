// The ack floor is found through an index (acks.ts FloorIndex) instead of a scan of every pending message per
// ack: a seeded property test drives deliveries (in and out of stream order), redeliveries, single and
// all-below acks, removals, max-deliver drops and snapshot restores, and compares the floor after every step
// with the scan's answer.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as acks from "../../src/jetstream/acks.ts";
import { seededRandom } from "../../src/raft/prng.ts";

function scanned(st: acks.AckState): { consumer_seq: number; stream_seq: number } {
  if (st.pending.size === 0) return { consumer_seq: st.dseq, stream_seq: st.lastDeliveredSseq };
  let minS = Infinity, minD = Infinity;
  for (const [s, p] of st.pending) {
    minS = Math.min(minS, s);
    minD = Math.min(minD, p.dseq);
  }
  return { consumer_seq: minD - 1, stream_seq: minS - 1 };
}

describe("ack floor index", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: the floor always equals a scan of the pending messages`, () => {
      const r = seededRandom(seed);
      let st = acks.newAckState(0);
      let cursor = 1;
      const pick = () => {
        const keys = [...st.pending.keys()];
        return keys.length ? keys[Math.floor(r() * keys.length)] : undefined;
      };
      for (let step = 0; step < 4000; step++) {
        const x = r();
        if (x < 0.4) {
          // A new delivery; now and then one out of stream order (last-per-subject, a given-back message).
          const seq = r() < 0.05 && cursor > 3 ? cursor - 1 - Math.floor(r() * 3) : cursor++;
          if (!st.pending.has(seq)) acks.recordDelivery(st, seq, false, true, step);
        } else if (x < 0.5) {
          const seq = pick();
          if (seq !== undefined) acks.recordDelivery(st, seq, true, true, step);
        } else if (x < 0.8) {
          const seq = pick();
          if (seq !== undefined) acks.ack(st, seq, r() < 0.2, () => {});
        } else if (x < 0.87) {
          const seq = pick();
          if (seq !== undefined) acks.forgetRemoved(st, [seq]);
        } else if (x < 0.92) {
          const seq = pick();
          if (seq !== undefined) {
            st.redeliverQ.push(seq);
            st.redeliverQ.sort((a, b) => a - b);
            acks.nextRedelivery(st, r() < 0.5 ? 1 : 0, { has: () => r() < 0.8 }, () => {});
          }
        } else if (x < 0.94) {
          st = acks.restoreAckState({
            delivered: { consumer_seq: st.dseq, stream_seq: st.lastDeliveredSseq },
            ack_floor: st.ackFloor,
            pending: acks.pendingSnapshot(st),
            num_redelivered: st.numRedelivered,
          });
        }
        acks.updateAckFloor(st);
        assert.deepEqual(st.ackFloor, scanned(st), `seed ${seed} step ${step}`);
      }
    });
  }
});
