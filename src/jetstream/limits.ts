/**
 * An account's JetStream limits (`accounts { A: { jetstream: { max_mem, max_file, max_streams, max_consumers } } }`)
 * and the checks nats-server 2.9 makes against them: stream count and byte reservations when a stream is created
 * or updated, consumers per stream when a consumer is created, and stored bytes when a message is stored.
 * Pure functions over the account's streams; the engine calls them at its API and write doors.
 */
import type { AccountJetStreamLimits } from "../config/account_options.ts";
import type { StreamConfig } from "./config.ts";
import { type ApiError, Errors } from "./errors.ts";

/** -1 is "unlimited", as in nats-server's `JetStreamAccountLimits`. */
export interface AccountLimits {
  max_memory: number;
  max_storage: number;
  max_streams: number;
  max_consumers: number;
}

export const UNLIMITED: AccountLimits = Object.freeze({
  max_memory: -1,
  max_storage: -1,
  max_streams: -1,
  max_consumers: -1,
});

/** The `jetstream` block of an account in the configuration (its schema is the config's); missing = unlimited. */
export type AccountJetStreamConfig = Partial<AccountJetStreamLimits>;

/** Config shape -> limits; a missing or negative value is unlimited, as nats-server reads it. */
export function limitsFromConfig(cfg: AccountJetStreamConfig | undefined): AccountLimits {
  const v = (n: number | undefined) => (n === undefined || n < 0 ? -1 : n);
  return {
    max_memory: v(cfg?.max_mem),
    max_storage: v(cfg?.max_file),
    max_streams: v(cfg?.max_streams),
    max_consumers: v(cfg?.max_consumers),
  };
}

/** What the checks need to know of a stream. */
export interface StreamUsage {
  cfg: Pick<StreamConfig, "name" | "storage" | "max_bytes">;
  /** Bytes stored now (nats-server's accounting for the stream's storage type). */
  bytes: number;
}

/** Bytes reserved by `max_bytes` of streams on one storage type, leaving out the stream named `except`. */
export function reservedBytes(streams: Iterable<StreamUsage>, memory: boolean, except?: string): number {
  let n = 0;
  for (const s of streams) {
    if ((s.cfg.storage === "memory") !== memory || s.cfg.name === except) continue;
    if (s.cfg.max_bytes > 0) n += s.cfg.max_bytes;
  }
  return n;
}

/** Bytes stored on one storage type. */
export function usedBytes(streams: Iterable<StreamUsage>, memory: boolean): number {
  let n = 0;
  for (const s of streams) if ((s.cfg.storage === "memory") === memory) n += s.bytes;
  return n;
}

/**
 * A stream create (`existing` undefined) or update against the account's limits: the stream count, then the
 * bytes its `max_bytes` reserves on top of what the account's other streams reserve.
 */
export function checkStreamLimits(
  limits: AccountLimits,
  streams: Iterable<StreamUsage>,
  count: number,
  cfg: StreamConfig,
  existing: boolean,
): ApiError | undefined {
  if (!existing && limits.max_streams > 0 && count >= limits.max_streams) return Errors.maximumStreamsLimit();
  // A stream may not allow more consumers than the account does.
  if (limits.max_consumers > 0 && cfg.max_consumers > limits.max_consumers) return Errors.maximumConsumersLimit();
  const memory = cfg.storage === "memory";
  const max = memory ? limits.max_memory : limits.max_storage;
  if (max >= 0 && cfg.max_bytes > 0 && reservedBytes(streams, memory, cfg.name) + cfg.max_bytes > max) {
    return memory ? Errors.memoryResourcesExceeded() : Errors.storageResourcesExceeded();
  }
  return undefined;
}

/**
 * A new consumer on a stream that has `consumers` already. nats-server 2.9 applies the account's
 * `max_consumers` per stream, as a cap on the stream's own `max_consumers` (the smaller one wins).
 */
export function checkConsumerLimit(limits: AccountLimits, streamMax: number, consumers: number): ApiError | undefined {
  let max = streamMax;
  if (max <= 0 || (limits.max_consumers > 0 && limits.max_consumers < max)) max = limits.max_consumers;
  if (max > 0 && consumers >= max) return Errors.maximumConsumersLimit();
  return undefined;
}

/** A message of `size` bytes about to be stored: the account may not hold more than its limit afterwards. */
export function checkStoreLimit(limits: AccountLimits, used: number, size: number, memory: boolean): ApiError | undefined {
  const max = memory ? limits.max_memory : limits.max_storage;
  if (max >= 0 && used + size > max) return Errors.accountResourcesExceeded();
  return undefined;
}

/** `limits` of `$JS.API.INFO` as nats-server 2.9 reports it for config-file accounts (no tiers). */
export function limitsInfo(limits: AccountLimits): Record<string, unknown> {
  return {
    max_memory: limits.max_memory,
    max_storage: limits.max_storage,
    max_streams: limits.max_streams,
    max_consumers: limits.max_consumers,
    max_ack_pending: -1,
    memory_max_stream_bytes: -1,
    storage_max_stream_bytes: -1,
    max_bytes_required: false,
  };
}
