import type { z } from "zod";
import { isLiteral, isValidSubject, subjectsIntersect } from "../subjects/subject.ts";
import { type ApiError, Errors } from "./errors.ts";
import type { consumerConfigSchema, streamConfigSchema, streamSourceSchema } from "./config_schema.ts";

/**
 * Stream and consumer configuration as nats-server's JSON has it: snake_case, durations in nanoseconds. The types
 * come from the zod schemas in config_schema.ts, which load on demand (schemas_on_demand.ts); this module holds
 * the checks and JSON shapes that need no zod.
 */
export type StreamConfig = z.output<typeof streamConfigSchema>;
export type StreamSource = z.output<typeof streamSourceSchema>;
export type ConsumerConfig = z.output<typeof consumerConfigSchema>;

const NS = 1_000_000;
export const DEFAULT_DUPLICATE_WINDOW = 120_000 * NS;
export const DEFAULT_ACK_WAIT = 30_000 * NS;
export const DEFAULT_MAX_ACK_PENDING = 1000;
export const DEFAULT_MAX_WAITING = 512;
/** Ephemeral consumers go away after this long without activity (nats-server: 5s). */
export const DEFAULT_INACTIVE_THRESHOLD = 5_000 * NS;

function validName(name: string): boolean {
  return name.length > 0 && !/[.*>\s/\\]/.test(name);
}

/**
 * Checks a parsed stream config and fills defaults the way nats-server does (`checkStreamCfg`). A single server
 * refuses replicas > 1 on create; nats-server 2.9.10 takes (and reports) them on an update (`update: true`);
 * a JetStream cluster (`clustered: true`) places them.
 */
export function checkStreamConfig(cfg: StreamConfig, opts: { update?: boolean; clustered?: boolean } = {}): ApiError | undefined {
  if (!cfg.name) return Errors.streamInvalidConfig("stream name is required");
  if (!validName(cfg.name)) return Errors.streamInvalidConfig("stream name can not contain '.', '*', '>'");
  if (cfg.name.length > 255) return Errors.streamInvalidConfig("stream name is too long, maximum allowed is 255");
  if (cfg.sealed && !opts.update) return Errors.streamInvalidConfig("stream configuration for create can not be sealed");
  if (cfg.num_replicas < 0) return Errors.replicasCountCannotBeNegative();
  if (cfg.num_replicas === 0) cfg.num_replicas = 1;
  if (cfg.num_replicas > 5) return Errors.streamInvalidConfig("maximum replicas is 5");
  if (cfg.num_replicas > 1 && !opts.update && !opts.clustered) return Errors.streamReplicasNotSupported();
  if (cfg.max_msgs === 0) cfg.max_msgs = -1;
  if (cfg.max_bytes === 0) cfg.max_bytes = -1;
  if (cfg.max_msg_size === 0) cfg.max_msg_size = -1;
  if (cfg.max_msgs_per_subject === 0) cfg.max_msgs_per_subject = -1;
  if (cfg.max_consumers === 0) cfg.max_consumers = -1;
  // Like nats-server, other negative limits are taken as given (and mean "no limit").
  if (cfg.max_age < 0) return Errors.streamInvalidConfig("duplicates window can not be negative");
  if (cfg.duplicate_window < 0) return Errors.streamInvalidConfig("duplicates window can not be negative");
  if (cfg.duplicate_window === 0 && !cfg.mirror) {
    cfg.duplicate_window = cfg.max_age > 0 && cfg.max_age < DEFAULT_DUPLICATE_WINDOW
      ? cfg.max_age
      : DEFAULT_DUPLICATE_WINDOW;
  }
  if (cfg.max_age > 0 && cfg.duplicate_window > cfg.max_age) {
    return Errors.streamInvalidConfig("duplicates window can not be larger then max age");
  }
  if (cfg.mirror) {
    if (cfg.subjects.length > 0) return Errors.mirrorWithSubjects();
    if (cfg.sources && cfg.sources.length > 0) return Errors.mirrorWithSources();
  }
  if (cfg.subjects.length === 0 && !cfg.mirror && !(cfg.sources && cfg.sources.length > 0)) {
    cfg.subjects = [cfg.name];
  }
  const seen = new Set<string>();
  for (const s of cfg.subjects) {
    if (!isValidSubject(s)) return Errors.streamInvalidConfig("invalid subject");
    if (seen.has(s)) return Errors.streamInvalidConfig("duplicate subjects detected");
    seen.add(s);
  }
  for (let i = 0; i < cfg.subjects.length; i++) {
    for (let j = i + 1; j < cfg.subjects.length; j++) {
      if (subjectsIntersect(cfg.subjects[i], cfg.subjects[j])) {
        return Errors.streamInvalidConfig(`subject "${cfg.subjects[i]}" overlaps with "${cfg.subjects[j]}"`);
      }
    }
  }
  if (cfg.subjects.some((s) => subjectsIntersect(s, "$JS.API.>"))) {
    return Errors.streamInvalidConfig("subjects overlap with jetstream api");
  }
  if (cfg.discard_new_per_subject) {
    if (cfg.discard !== "new") {
      return Errors.streamInvalidConfig("discard new per subject requires discard new policy to be set");
    }
    if (cfg.max_msgs_per_subject <= 0) {
      return Errors.streamInvalidConfig("discard new per subject requires max msgs per subject > 0");
    }
  }
  if (cfg.mirror_direct && !cfg.mirror) return Errors.streamInvalidConfig("stream has no mirror but does have mirror direct");
  if (cfg.republish && !isValidSubject(cfg.republish.dest)) {
    return Errors.streamInvalidConfig("stream republish destination subject is not valid");
  }
  if (cfg.republish) {
    for (const subj of cfg.subjects) {
      if (subjectsIntersect(subj, cfg.republish.dest)) {
        return Errors.streamInvalidConfig("stream configuration for republish destination forms a cycle");
      }
    }
  }
  return undefined;
}

/** Fields a stream update may not change (nats-server's `checkStreamCfg` + `update`). */
export function checkStreamUpdate(old: StreamConfig, cfg: StreamConfig): ApiError | undefined {
  if (old.storage !== cfg.storage) {
    return Errors.streamInvalidConfig("stream configuration update can not change storage type");
  }
  if (old.retention !== cfg.retention) {
    return Errors.streamInvalidConfig("stream configuration update can not change retention policy");
  }
  if (JSON.stringify(old.mirror ?? null) !== JSON.stringify(cfg.mirror ?? null)) return Errors.streamMirrorNotUpdatable();
  if (old.sealed && !cfg.sealed) return Errors.streamInvalidConfig("stream configuration update can not unseal a sealed stream");
  if (old.deny_delete && !cfg.deny_delete) {
    return Errors.streamInvalidConfig("stream configuration update can not cancel deny message deletes");
  }
  if (old.deny_purge && !cfg.deny_purge) {
    return Errors.streamInvalidConfig("stream configuration update can not cancel deny purge");
  }
  return undefined;
}

/** Checks and defaults a consumer config against its stream (nats-server's `checkConsumerCfg`). */
export function checkConsumerConfig(cfg: ConsumerConfig, stream: StreamConfig, clustered = false): ApiError | undefined {
  // nats-server checks replicas before anything else; a single server has no peers to place them on, and in a
  // cluster a consumer lives on its stream's peers.
  if (cfg.num_replicas < 0) return Errors.replicasCountCannotBeNegative();
  if (cfg.num_replicas > 1 && !clustered) return Errors.streamReplicasNotSupported();
  if (cfg.num_replicas > Math.max(1, stream.num_replicas)) return Errors.consumerReplicasExceedsStream();
  const name = cfg.name ?? cfg.durable_name;
  if (cfg.durable_name && cfg.name && cfg.durable_name !== cfg.name) {
    return Errors.consumerCreate("consumer name in request does not match durable name");
  }
  if (name !== undefined && name !== "") {
    if (!validName(name)) return Errors.consumerBadDurableName();
    if (name.length > 255) return Errors.consumerNameTooLong(255);
  }
  const push = !!cfg.deliver_subject;
  if (push) {
    if (!isValidSubject(cfg.deliver_subject ?? "") || !isLiteral(cfg.deliver_subject ?? "")) {
      return Errors.consumerDeliverToWildcards();
    }
    if (stream.subjects.some((s) => subjectsIntersect(s, cfg.deliver_subject ?? ""))) {
      return Errors.consumerDeliverCycle();
    }
    if (cfg.max_waiting !== 0) return Errors.consumerPushMaxWaiting();
    if (cfg.max_ack_pending > 0 && cfg.ack_policy === "none") return Errors.consumerMaxPendingAckPolicyRequired();
    if (cfg.idle_heartbeat && cfg.idle_heartbeat > 0 && cfg.idle_heartbeat < 100 * 1_000_000) {
      return Errors.consumerSmallHeartbeat();
    }
  } else {
    if (cfg.ack_policy === "none" && stream.retention === "workqueue") return Errors.consumerPullRequiresAck();
    if (cfg.max_waiting < 0) return Errors.consumerMaxWaitingNegative();
    if (cfg.idle_heartbeat && cfg.idle_heartbeat > 0) return Errors.consumerHBRequiresPush();
    if (cfg.flow_control) return Errors.consumerFCRequiresPush();
    if (cfg.max_waiting === 0) cfg.max_waiting = DEFAULT_MAX_WAITING;
  }
  if (cfg.flow_control && !cfg.idle_heartbeat) return Errors.consumerFCRequiresHB();
  const acked = cfg.ack_policy !== "none";
  // Like nats-server, only acked consumers get the default ack wait and max ack pending.
  if (cfg.ack_wait === 0 && acked) cfg.ack_wait = DEFAULT_ACK_WAIT;
  if (cfg.ack_wait < 0) return Errors.consumerInvalidPolicy("consumer ack wait needs to be positive");
  if (cfg.max_deliver === 0) cfg.max_deliver = -1;
  if (cfg.backoff && cfg.backoff.length > 0) {
    if (cfg.max_deliver !== -1 && cfg.max_deliver <= cfg.backoff.length) return Errors.consumerMaxDeliverBackoff();
    cfg.ack_wait = cfg.backoff[0];
  }
  if (cfg.max_ack_pending === 0 && acked) cfg.max_ack_pending = DEFAULT_MAX_ACK_PENDING;
  // Ephemerals report the threshold they go away after.
  if (!cfg.durable_name && !cfg.inactive_threshold) cfg.inactive_threshold = DEFAULT_INACTIVE_THRESHOLD;
  switch (cfg.deliver_policy) {
    case "by_start_sequence":
      if (!cfg.opt_start_seq) {
        return Errors.consumerInvalidPolicy(
          "consumer delivery policy is deliver by start sequence, but optional start sequence is not set",
        );
      }
      if (cfg.opt_start_time) {
        return Errors.consumerInvalidPolicy("consumer deliver policy by_start_sequence can not have start time");
      }
      break;
    case "by_start_time":
      if (!cfg.opt_start_time || Number.isNaN(Date.parse(cfg.opt_start_time))) {
        return Errors.consumerInvalidPolicy(
          "consumer delivery policy is deliver by start time, but optional start time is not set",
        );
      }
      if (cfg.opt_start_seq) {
        return Errors.consumerInvalidPolicy("consumer deliver policy by_start_time can not have start sequence");
      }
      break;
    case "last_per_subject":
      if (consumerFilters(cfg).length === 0) {
        return Errors.consumerInvalidPolicy(
          "consumer delivery policy is deliver last per subject, but optional filter subject is not set",
        );
      }
      break;
    default:
      if (cfg.opt_start_seq || cfg.opt_start_time) {
        return Errors.consumerInvalidPolicy(
          `consumer deliver policy ${cfg.deliver_policy} can not have start sequence or time`,
        );
      }
  }
  const filters = consumerFilters(cfg);
  for (const f of filters) {
    if (!isValidSubject(f)) return Errors.consumerInvalidPolicy("consumer filter subject is not valid");
    const subjects = stream.subjects;
    if (subjects.length > 0 && !subjects.some((s) => subjectsIntersect(s, f))) {
      return Errors.consumerFilterNotSubset();
    }
  }
  if (stream.retention === "workqueue" && cfg.ack_policy !== "explicit") return Errors.consumerWQRequiresExplicitAck();
  if (cfg.inactive_threshold !== undefined && cfg.inactive_threshold < 0) {
    return Errors.consumerInvalidPolicy("consumer inactive threshold needs to be positive");
  }
  return undefined;
}

export function consumerFilters(cfg: ConsumerConfig): string[] {
  if (cfg.filter_subjects && cfg.filter_subjects.length > 0) return cfg.filter_subjects;
  if (cfg.filter_subject) return [cfg.filter_subject];
  return [];
}

// ---- echoes: configs as nats-server's JSON encoder writes them ----

/** Stream config fields Go's encoder leaves out when empty (`omitempty` in nats-server's StreamConfig). */
const STREAM_OMIT_EMPTY = [
  "description",
  "subjects",
  "no_ack",
  "template_owner",
  "duplicate_window",
  "placement",
  "mirror",
  "sources",
  "republish",
  "discard_new_per_subject",
  "metadata",
  "first_seq",
];

/** Consumer config fields with `omitempty` in nats-server's ConsumerConfig (the rest are always written). */
const CONSUMER_OMIT_EMPTY = [
  "durable_name",
  "name",
  "description",
  "deliver_subject",
  "deliver_group",
  "opt_start_seq",
  "opt_start_time",
  "ack_wait",
  "max_deliver",
  "backoff",
  "filter_subject",
  "filter_subjects",
  "rate_limit_bps",
  "sample_freq",
  "max_waiting",
  "max_ack_pending",
  "flow_control",
  "idle_heartbeat",
  "headers_only",
  "max_batch",
  "max_expires",
  "max_bytes",
  "inactive_threshold",
  "mem_storage",
  "metadata",
];

/** Go's notion of an empty value: false, 0, "", null/undefined, an empty array or object. */
export function isGoEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

function withoutEmpty<T extends Record<string, unknown>>(cfg: T, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...cfg };
  for (const k of keys) if (isGoEmpty(out[k])) delete out[k];
  return out;
}

/** A stream config as API responses show it. */
export function streamConfigJson(cfg: StreamConfig): Record<string, unknown> {
  return withoutEmpty(cfg, STREAM_OMIT_EMPTY);
}

/** Configs whose `name` Petrel generated (an ephemeral created without one): nats-server does not echo those. */
const generatedNames = new WeakSet<ConsumerConfig>();

export function markGeneratedName(cfg: ConsumerConfig): void {
  generatedNames.add(cfg);
}

/**
 * A consumer config as API responses show it: `mem_storage: false` and the like are left out, and so is a `name`
 * the client did not give (Petrel keeps the consumer's name in its config; nats-server 2.9 echoes it only when
 * it was asked for, not for a durable named by `durable_name` nor for a generated ephemeral name).
 */
export function consumerConfigJson(cfg: ConsumerConfig): Record<string, unknown> {
  const out = withoutEmpty(cfg, CONSUMER_OMIT_EMPTY);
  if (out.name !== undefined && (out.name === cfg.durable_name || generatedNames.has(cfg))) delete out.name;
  return out;
}
