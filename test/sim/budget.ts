/** Seeds the CI test runs (per runtime); every deliberate bug must be caught within this many. */
export const CI_SEEDS = 500;
/** Generous per-test timeout for the seed loops on a busy 2-core machine. */
export const SIM_TEST_TIMEOUT_MS = 120_000;
