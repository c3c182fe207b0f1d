/**
 * An account's JetStream limits in a cluster, as nats-server 2.9 checks them on the meta leader: the stream
 * count is the account's assignments across the cluster, and a stream's `max_bytes` reserves its bytes once per
 * replica (an R3 stream of 400 KB takes 1.2 MB of a 1 MB `max_file`: 10047 "insufficient storage resources
 * available", observed on 2.9.10), and a stored message takes its size once per replica too (an R3 stream with
 * 200 KB stored refuses a second 200 KB message under a 1 MB `max_file`: 400/10002 "resource limits exceeded
 * for account", observed). The single-server checks (limits.ts) do the arithmetic.
 */
import type { StreamConfig } from "../config.ts";
import type { ApiError } from "../errors.ts";
import { type AccountLimits, checkStoreLimit, checkStreamLimits, type StreamUsage } from "../limits.ts";
import type { StreamAssignment } from "./meta.ts";

/** A create (`existing` false) or update of `cfg` against the account's limits and its assignments `mine`. */
export function checkClusteredStreamLimits(
  limits: AccountLimits,
  mine: readonly StreamAssignment[],
  cfg: StreamConfig,
  existing: boolean,
): ApiError | undefined {
  const usage: StreamUsage[] = mine.map((a) => ({
    cfg: { name: a.name, storage: a.config.storage, max_bytes: replicated(a.config.max_bytes, a.peers.length) },
    bytes: 0,
  }));
  const scaled: StreamConfig = { ...cfg, max_bytes: replicated(cfg.max_bytes, cfg.num_replicas) };
  return checkStreamLimits(limits, usage, mine.length, scaled, existing);
}

function replicated(maxBytes: number, replicas: number): number {
  return maxBytes > 0 ? maxBytes * Math.max(1, replicas) : maxBytes;
}

/**
 * A message of `size` bytes about to be stored in a stream of `replicas` replicas, when the account's streams
 * already hold `usedReplicated` bytes counting each replica: nats-server's 10002 when it would not fit.
 */
export function checkClusteredStore(
  limits: AccountLimits,
  usedReplicated: number,
  size: number,
  replicas: number,
  memory: boolean,
): ApiError | undefined {
  return checkStoreLimit(limits, usedReplicated, size * Math.max(1, replicas), memory);
}
