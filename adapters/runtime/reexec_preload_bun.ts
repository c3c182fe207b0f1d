/**
 * Bun preload (bunfig.toml `preload`): the CLI's re-exec (reexec.ts) before mod.ts's module graph is loaded.
 *
 * Why: mod.ts re-executes from its main, after Bun has loaded and run its whole static graph (~20 ms of CPU on a
 * plain start, twice). Bun runs a preload before it loads the entry, so from the project directory (`bun run
 * mod.ts`, `npm start`, the bench) the first image only boots Bun and this file. Anywhere else (another working
 * directory, a compiled binary) mod.ts's main still does it; the marker makes the second call a no-op.
 * Does nothing for any other entry (tests, tools, an embedder's program).
 */
import { reexecWithRuntimeOptions } from "./reexec.ts";

const modTs = decodeURIComponent(new URL("../../mod.ts", import.meta.url).pathname);
if (Bun.main === modTs) await reexecWithRuntimeOptions();
