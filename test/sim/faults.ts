/**
 * The faults the stream and consumer simulators draw from one random number, so both explore the same space:
 * a crash (while nobody is down), the restart of a crashed server, a cut link, a heal. The callers keep their own
 * workload (what x below 0.85 does) and their own extra fault (x in [0.95, 0.96)).
 */
import { randInt } from "../../src/raft/prng.ts";
import type { Random } from "../../src/raft/types.ts";

export interface FaultableSim {
  readonly nodes: ReadonlyMap<string, { readonly name: string; readonly alive: boolean }>;
  readonly net: { cut(a: string, b: string): void; heal(): void };
  faults: number;
  crash(name: string): void;
  start(name: string): void;
}

/** The servers of both simulators. */
export const NAMES = ["a", "b", "c"];

/**
 * Applies the fault `x` (in [0.85, 0.95)) stands for: false when `x` is outside that range (the caller's own
 * draw). With a server down, a draw for a crash restarts it; with none down, a draw for a restart cuts a link.
 */
export function commonFault(sim: FaultableSim, x: number, r: Random): boolean {
  if (x < 0.85 || x >= 0.95) return false;
  const down = [...sim.nodes.values()].filter((n) => !n.alive);
  if (x < 0.87 && down.length === 0) sim.crash(NAMES[randInt(r, 0, 3)]);
  else if (x < 0.9 && down.length > 0) sim.start(down[0].name);
  else if (x < 0.92) {
    sim.net.cut(NAMES[randInt(r, 0, 3)], NAMES[randInt(r, 0, 3)]);
    sim.faults++;
  } else sim.net.heal();
  return true;
}
