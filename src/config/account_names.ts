// Account names and constants the server needs at run time, apart from the zod schemas of account_options.ts
// so that a server started without a config file loads no zod.

export const RESPONSE_TYPES = ["singleton", "stream", "chunked"] as const;

/** nats-server's default service response threshold (2 minutes), in ms. */
export const DEFAULT_RESPONSE_THRESHOLD_MS = 120_000;

/** The global account every client without an account of its own lives in. */
export const GLOBAL_ACCOUNT = "$G";

/** nats-server's default system account. */
export const DEFAULT_SYSTEM_ACCOUNT = "$SYS";
