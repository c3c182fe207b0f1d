/** The runtime adapter for a runtime Petrel does not run on (package.json's `#runtime-adapter`, no condition met). */
import type { Runtime } from "../../src/runtime/types.ts";

export function createRuntime(): Runtime {
  throw new Error("unsupported runtime: Petrel runs on Deno or Bun");
}
