import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type FlowConsumer, InputGate } from "../../src/server/flow.ts";
import { type Clock, ManualClock } from "../../src/runtime/clock.ts";

// The stall cap and the gate's re-check poll are timers: every test drives them with a ManualClock (no sleeps).
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join("");

function consumer(behind: boolean): FlowConsumer & { behind: boolean; pending: number } {
  return {
    behind,
    pending: 1000,
    isClosed: () => false,
    isBehind() {
      return this.behind;
    },
    backlog() {
      return this.pending;
    },
    stallExhausted: false,
  };
}

describe("input gate (producer stalls)", () => {
  it("passes input straight through while nobody is behind", () => {
    const fed: Uint8Array[] = [];
    const g = new InputGate((d) => fed.push(d.slice()), () => false, 500);
    g.push(bytes("a"));
    g.push(bytes("b"));
    assert.equal(text(fed), "ab");
  });

  it("past 256 KiB held during a stall it pauses the transport's reading, and resumes once all is replayed", () => {
    const fed: Uint8Array[] = [];
    const pauses: boolean[] = [];
    const clock = new ManualClock();
    const g = new InputGate((d) => fed.push(d.slice()), () => false, 60_000, (p) => pauses.push(p), clock);
    const c = consumer(true);
    g.stallFor(c);
    const chunk = new Uint8Array(64 * 1024);
    for (let i = 0; i < 4; i++) g.push(chunk.fill(i + 1));
    assert.deepEqual(pauses, [], "256 KiB held: still reading");
    assert.equal(g.heldBytes, 256 * 1024);
    g.push(chunk.fill(5));
    assert.deepEqual(pauses, [true], "past the bound: reading paused");
    c.behind = false;
    clock.advance(2);
    assert.deepEqual(pauses, [true, false]);
    assert.equal(g.heldBytes, 0);
    const all = new Uint8Array(fed.reduce((n, f) => n + f.length, 0));
    let o = 0;
    for (const f of fed) {
      all.set(f, o);
      o += f.length;
    }
    assert.equal(all.length, 5 * 64 * 1024);
    for (let i = 0; i < 5; i++) assert.equal(all[i * 64 * 1024], i + 1, "replayed in order");
  });

  it("a consumer that says when it drained ends the stall then, not at the next poll", () => {
    const fed: Uint8Array[] = [];
    const g = new InputGate((d) => fed.push(d.slice()), () => false, 60_000);
    let wake: (() => void) | undefined;
    const c = { ...consumer(true), whenDrained: (w: () => void) => (wake = w) };
    g.stallFor(c);
    g.push(bytes("held"));
    assert.equal(text(fed), "");
    assert.ok(wake !== undefined, "the gate asked to be woken");
    c.behind = false;
    wake();
    // Synchronously: the replay happened inside the drain notification.
    assert.equal(text(fed), "held");
    assert.equal(g.stalled, false);
  });

  it("holds input while a consumer is behind and replays it, in order, once it catches up", () => {
    const fed: Uint8Array[] = [];
    const clock = new ManualClock();
    const g = new InputGate((d) => fed.push(d.slice()), () => false, 5000, undefined, clock);
    const c = consumer(true);
    g.push(bytes("1"));
    g.stallFor(c);
    g.push(bytes("2"));
    g.push(bytes("3"));
    clock.advance(20);
    assert.equal(text(fed), "1", "held while the consumer is behind");
    c.behind = false;
    clock.advance(2);
    assert.equal(text(fed), "123");
    assert.equal(c.stallExhausted, false);
    assert.equal(g.stalled, false);
  });

  it("a consumer that says when it caught up keeps the stall until then, not until it is just under the mark", () => {
    const fed: Uint8Array[] = [];
    const clock = new ManualClock();
    const g = new InputGate((d) => fed.push(d.slice()), () => false, 5000, undefined, clock);
    const c = Object.assign(consumer(true), { low: false, caughtUp: () => c.low });
    g.stallFor(c);
    g.push(bytes("1"));
    c.behind = false; // under the mark, above the resume mark
    c.pending = 500; // shrinking: not stuck
    clock.advance(20);
    assert.equal(text(fed), "", "still held between the marks");
    c.low = true;
    clock.advance(2);
    assert.equal(text(fed), "1");
    assert.equal(g.stalled, false);
  });

  it("an uncapped wait (a producer behind on its own output) outlasts the cap; capped ones still end at it", () => {
    const fed: Uint8Array[] = [];
    const clock = new ManualClock();
    const g = new InputGate((d) => fed.push(d.slice()), () => false, 20, undefined, clock);
    const self = consumer(true);
    const other = consumer(true);
    g.stallFor(other);
    g.stallFor(self, false);
    g.push(bytes("x"));
    clock.advance(80);
    assert.equal(text(fed), "", "still held after four caps: the client itself is behind");
    assert.equal(other.stallExhausted, true, "the other consumer's wait ended at the cap");
    assert.equal(self.stallExhausted, false);
    self.behind = false;
    clock.advance(2);
    assert.equal(text(fed), "x");
    assert.equal(g.stalled, false);
  });

  it("a consumer that is behind but draining is not marked exhausted when the cap passes", () => {
    const fed: Uint8Array[] = [];
    const clock = new ManualClock();
    const g = new InputGate((d) => fed.push(d.slice()), () => false, 30, undefined, clock);
    const c = consumer(true);
    g.stallFor(c);
    g.push(bytes("x"));
    c.pending = 500;
    clock.advance(29);
    assert.equal(text(fed), "", "held until the cap");
    clock.advance(71);
    assert.equal(text(fed), "x");
    assert.equal(c.stallExhausted, false);
  });

  it("gives up after the cap and marks a stuck consumer exhausted", () => {
    const fed: Uint8Array[] = [];
    const clock = new ManualClock();
    const g = new InputGate((d) => fed.push(d.slice()), () => false, 30, undefined, clock);
    const c = consumer(true);
    g.stallFor(c);
    g.push(bytes("x"));
    clock.advance(29);
    assert.equal(text(fed), "", "held until the cap");
    assert.equal(c.stallExhausted, false);
    clock.advance(71);
    assert.equal(text(fed), "x");
    assert.equal(c.stallExhausted, true);
  });

  /**
   * A clock whose time can jump while no timer runs: this server's event loop held (a collection, a host whose
   * CPU others took). `hold(ms)`: the time passes, the timers due meanwhile run only at the next advance.
   */
  function heldLoopClock(): { clock: Clock; manual: ManualClock; hold(ms: number): void } {
    const manual = new ManualClock();
    let held = 0;
    return {
      manual,
      clock: { now: () => manual.now() + held, after: (ms, fn) => manual.after(ms, fn), soon: (fn) => manual.soon(fn) },
      hold: (ms) => void (held += ms),
    };
  }

  /** A gate on `clock` whose input is held by one consumer that is behind (backlog 1000); "x" waits in it. */
  function stalledOnOne(capMs: number, clock: Clock): { fed: Uint8Array[]; c: ReturnType<typeof consumer>; g: InputGate } {
    const fed: Uint8Array[] = [];
    const g = new InputGate((d) => fed.push(d.slice()), () => false, capMs, undefined, clock);
    const c = consumer(true);
    g.stallFor(c);
    g.push(bytes("x"));
    return { fed, c, g };
  }

  it("the time this server's loop was held does not count towards the cap: a reader that drains once the loop runs again is not marked stuck", () => {
    const t = heldLoopClock();
    const { fed, c } = stalledOnOne(750, t.clock);
    t.manual.advance(10);
    // 800 ms without a turn: the first look after it is the stall's timer, before the consumer's writes complete.
    t.hold(800);
    t.manual.advance(2);
    assert.equal(c.stallExhausted, false, "not judged on a held loop's time");
    assert.equal(text(fed), "", "still held: the held time was not counted");
    c.pending = 900; // the writes that waited with the timer complete
    t.manual.advance(750);
    assert.equal(text(fed), "x", "let go at the cap, counted on the loop's own time");
    assert.equal(c.stallExhausted, false);
  });

  it("a stuck consumer is still marked exhausted when the loop was held along the way, once the loop ran the cap", () => {
    const t = heldLoopClock();
    const { fed, c } = stalledOnOne(750, t.clock);
    t.hold(800);
    t.manual.advance(2);
    assert.equal(text(fed), "");
    t.manual.advance(700);
    assert.equal(text(fed), "x");
    assert.equal(c.stallExhausted, true);
  });

  it("a consumer that drained some of what the rest of the stall's slice added is not marked exhausted", () => {
    const clock = new ManualClock();
    const { fed, c, g } = stalledOnOne(30, clock); // its backlog when the stall began: 1000
    c.pending = 1200; // the slice that began it went on delivering to it
    g.stallFor(c);
    c.pending = 1100; // it read some, not all of that
    clock.advance(100);
    assert.equal(text(fed), "x");
    assert.equal(c.stallExhausted, false);
  });

  it("parses a large read in 64 KiB slices, one per turn of the event loop, and stops between slices when a stall begins", () => {
    const sizes: number[] = [];
    const c = consumer(true);
    const clock = new ManualClock();
    const g: InputGate = new InputGate((d) => {
      sizes.push(d.length);
      if (sizes.length === 2) g.stallFor(c);
    }, () => false, 5000, undefined, clock);
    g.push(new Uint8Array(300 * 1024));
    assert.deepEqual(sizes, [65536], "one slice now: its output is flushed before the next is parsed");
    clock.advance(0);
    assert.deepEqual(sizes, [65536, 65536], "the next slice on the next turn; the third waits for the stall");
    g.push(bytes("after"));
    assert.deepEqual(sizes, [65536, 65536], "a later read waits behind the rest of the first");
    clock.advance(0);
    assert.deepEqual(sizes, [65536, 65536], "no turn-by-turn progress during a stall");
    c.behind = false;
    // The re-check ends the stall; the replay goes on slice by slice, turn by turn (the manual clock runs the
    // turns it schedules within the same advance).
    clock.advance(2);
    assert.deepEqual(sizes.slice(0, 5), [65536, 65536, 65536, 65536, 300 * 1024 - 4 * 65536]);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 300 * 1024 + 5, "nothing lost, the later read last");
    assert.equal(sizes[sizes.length - 1], 5);
  });

  it("a read that comes before the turn first moves the held rest on (one slice, or down to the bound), then waits behind it", () => {
    const sizes: number[] = [];
    const turns: Array<() => void> = [];
    const manual = new ManualClock();
    // A clock whose next turns are run one by one.
    const clock = { now: () => manual.now(), after: (ms: number, fn: () => void) => manual.after(ms, fn), soon: (fn: () => void) => (turns.push(fn), { cancel() {} }) };
    const g = new InputGate((d) => sizes.push(d[0]), () => false, 5000, undefined, clock);
    const read = (tag: number, n = 512 * 1024) => new Uint8Array(n).fill(tag);
    g.push(read(1));
    assert.deepEqual(sizes, [1]);
    g.push(read(2));
    // 448 KiB held: 192 KiB (three slices) go now, so that 256 KiB stay; the new read waits behind them.
    assert.deepEqual(sizes, [1, 1, 1, 1]);
    assert.equal(g.heldBytes, 256 * 1024 + 512 * 1024);
    turns.shift()?.();
    assert.equal(g.heldBytes, 256 * 1024, "one turn brought what is held back to the bound");
    while (turns.length > 0) turns.shift()?.();
    assert.equal(g.heldBytes, 0);
    assert.deepEqual(sizes, [...Array(8).fill(1), ...Array(8).fill(2)], "all of it, in order");
  });

  it("reads that keep coming with no turn in between (Deno's read loop runs in microtasks) make progress read by read, held bounded, on a transport that cannot pause", () => {
    let fed = 0;
    const turns: Array<() => void> = [];
    const manual = new ManualClock();
    const clock = { now: () => manual.now(), after: (ms: number, fn: () => void) => manual.after(ms, fn), soon: (fn: () => void) => (turns.push(fn), { cancel() {} }) };
    const g = new InputGate((d) => (fed += d.length), () => false, 5000, undefined, clock);
    const read = 256 * 1024;
    let maxHeld = 0;
    for (let i = 0; i < 40; i++) {
      g.push(new Uint8Array(read));
      maxHeld = Math.max(maxHeld, g.heldBytes);
    }
    assert.ok(maxHeld <= 256 * 1024 + read, `held at most ${maxHeld} bytes: the bound plus one read`);
    assert.ok(fed >= 40 * read - maxHeld, "everything but what is held was parsed without a turn");
    while (turns.length > 0) turns.shift()?.();
    assert.equal(fed, 40 * read);
  });

  it("large reads on a transport that can pause: one slice per turn, reading paused past the bound and resumed with two slices left", () => {
    const events: string[] = [];
    const turns: Array<() => void> = [];
    const manual = new ManualClock();
    const clock = { now: () => manual.now(), after: (ms: number, fn: () => void) => manual.after(ms, fn), soon: (fn: () => void) => (turns.push(fn), { cancel() {} }) };
    let paused = false;
    const g = new InputGate((d) => events.push(`feed ${d.length >> 10}`), () => false, 5000, (p) => {
      paused = p;
      events.push(p ? "pause" : "resume");
    }, clock);
    const read = 512 * 1024;
    // Bun: a 512 KiB read, then another before the turn (the reading is not paused yet).
    g.push(new Uint8Array(read));
    assert.deepEqual(events, ["feed 64", "pause"], "one slice now; 448 KiB held is past the bound: reading paused");
    g.push(new Uint8Array(read)); // a read already on its way when the pause came
    assert.deepEqual(events, ["feed 64", "pause", "feed 64"], "the held rest moves on by one slice only");
    assert.equal(g.heldBytes, 2 * read - 2 * 64 * 1024);
    let maxPerTurn = 0;
    let resumedWith = -1;
    while (turns.length > 0) {
      const before = events.filter((e) => e.startsWith("feed")).length;
      turns.shift()?.();
      maxPerTurn = Math.max(maxPerTurn, events.filter((e) => e.startsWith("feed")).length - before);
      if (!paused && resumedWith < 0) resumedWith = g.heldBytes;
    }
    assert.equal(maxPerTurn, 1, "one slice per turn: a turn's output is one slice's");
    assert.equal(resumedWith, 128 * 1024, "reading resumed with two slices still to parse");
    assert.equal(g.heldBytes, 0);
    assert.equal(events.filter((e) => e === "feed 64").length, 16, "all of it, in 64 KiB slices");
    assert.deepEqual(events.filter((e) => e === "pause" || e === "resume"), ["pause", "resume"]);
  });

  it("a single read far past the bound stops the reading until its slices are through", () => {
    const pauses: boolean[] = [];
    let fed = 0;
    const turns: Array<() => void> = [];
    const manual = new ManualClock();
    const clock = { now: () => manual.now(), after: (ms: number, fn: () => void) => manual.after(ms, fn), soon: (fn: () => void) => (turns.push(fn), { cancel() {} }) };
    const g = new InputGate((d) => (fed += d.length), () => false, 5000, (p) => pauses.push(p), clock);
    g.push(new Uint8Array(2 * 1024 * 1024));
    assert.deepEqual(pauses, [true], "reading paused");
    while (turns.length > 0) turns.shift()?.();
    assert.equal(fed, 2 * 1024 * 1024);
    assert.deepEqual(pauses, [true, false], "and reading resumed");
  });

  it("a stall that begins with a large read's remainder held past the bound pauses the reading", () => {
    const pauses: boolean[] = [];
    const clock = new ManualClock();
    const c = consumer(true);
    let fed = 0;
    const g: InputGate = new InputGate((d) => {
      if (fed === 0) g.stallFor(c);
      fed += d.length;
    }, () => false, 5000, (p) => pauses.push(p), clock);
    g.push(new Uint8Array(512 * 1024));
    assert.deepEqual(pauses, [true], "448 KiB held when the stall began");
    c.behind = false;
    clock.advance(2);
    assert.equal(fed, 512 * 1024);
    assert.deepEqual(pauses, [true, false], "all through: reading again");
  });
  it("holds a fresh read as it is (no copy) and copies a reused one", () => {
    const turns: Array<() => void> = [];
    const manual = new ManualClock();
    const clock = { now: () => manual.now(), after: (ms: number, fn: () => void) => manual.after(ms, fn), soon: (fn: () => void) => (turns.push(fn), { cancel() {} }) };
    for (const fresh of [true, false]) {
      // What the feed saw, noted during the call (a copy the gate made is freed once fed).
      const seen: Array<{ buffer: ArrayBufferLike; first: number }> = [];
      const g = new InputGate((d) => seen.push({ buffer: d.buffer, first: d[0] }), () => false, 5000, undefined, clock, () => fresh);
      const read = new Uint8Array(128 * 1024).fill(1);
      g.push(read);
      read.fill(2); // a transport reusing its buffer
      while (turns.length > 0) turns.shift()?.();
      assert.equal(seen.length, 2);
      assert.equal(seen[1].buffer === read.buffer, fresh);
      assert.equal(seen[1].first, fresh ? 2 : 1, fresh ? "a view of the read itself" : "a copy taken before the transport reused it");
      if (!fresh) assert.equal(seen[1].buffer.byteLength, 0, "the gate's copy was freed (detached) once fed");
    }
  });
  it("hands each fresh read back once, only after all of it was fed (whole, held rest, stalled), never a reused one", () => {
    const turns: Array<() => void> = [];
    const manual = new ManualClock();
    const clock = { now: () => manual.now(), after: (ms: number, fn: () => void) => manual.after(ms, fn), soon: (fn: () => void) => (turns.push(fn), { cancel() {} }) };
    for (const fresh of [true, false]) {
      let fed = 0;
      const recycled: Array<{ read: Uint8Array; fedThen: number }> = [];
      const g: InputGate = new InputGate((d) => (fed += d.length), () => false, 5000, undefined, clock, () => fresh, () => true, (d) => recycled.push({ read: d, fedThen: fed }));
      const small = new Uint8Array(1000);
      g.push(small);
      const large = new Uint8Array(200 * 1024);
      g.push(large); // one slice now, the rest on later turns
      const c = consumer(true);
      g.stallFor(c);
      const stalled = new Uint8Array(3000);
      g.push(stalled); // held during the stall
      if (fresh) {
        assert.equal(recycled.length, 1, "the small read at once; the large one's rest is still held");
        assert.equal(recycled[0].read, small);
        assert.equal(recycled[0].fedThen, 1000);
      }
      c.behind = false;
      manual.advance(5);
      while (turns.length > 0) turns.shift()?.();
      assert.equal(fed, 1000 + 200 * 1024 + 3000);
      if (!fresh) {
        assert.equal(recycled.length, 0, "a transport that reuses its buffer gets nothing back");
        continue;
      }
      assert.equal(recycled.length, 3, "once per read");
      assert.equal(recycled[1].read.buffer, large.buffer);
      assert.equal(recycled[1].fedThen, 1000 + 200 * 1024, "the large read after its last slice");
      assert.equal(recycled[2].read, stalled);
      assert.equal(recycled[2].fedThen, fed, "the held read after it was fed");
    }
  });
  it("slices that produce no output follow each other at once; the first that does makes the rest wait for the next turn", () => {
    const turns: Array<() => void> = [];
    const manual = new ManualClock();
    const clock = { now: () => manual.now(), after: (ms: number, fn: () => void) => manual.after(ms, fn), soon: (fn: () => void) => (turns.push(fn), { cancel() {} }) };
    const sizes: number[] = [];
    let outputFrom = Infinity; // the slice (by count) from which slices produce output
    const g = new InputGate((d) => sizes.push(d.length), () => false, 5000, undefined, clock, () => true, () => sizes.length >= outputFrom);
    g.push(new Uint8Array(512 * 1024));
    assert.deepEqual(sizes, Array(8).fill(65536), "a quiet read is parsed whole, slice by slice, in this turn");
    assert.equal(turns.length, 0, "no turn asked for");
    assert.equal(g.heldBytes, 0);
    sizes.length = 0;
    outputFrom = 3;
    g.push(new Uint8Array(512 * 1024));
    assert.deepEqual(sizes, [65536, 65536, 65536], "up to the first slice with output");
    assert.equal(g.heldBytes, 5 * 65536);
    assert.equal(turns.length, 1);
    turns.shift()?.();
    assert.equal(sizes.length, 4, "then one slice per turn while output comes");
    outputFrom = Infinity;
    turns.shift()?.();
    assert.equal(sizes.length, 8, "and the rest at once when it stops");
    assert.equal(g.heldBytes, 0);
    assert.equal(turns.length, 0);
  });
});
