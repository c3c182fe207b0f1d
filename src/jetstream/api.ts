import {
  checkStreamConfig,
  checkStreamUpdate,
  type ConsumerConfig,
  type StreamConfig,
  markGeneratedName,
  streamConfigJson,
} from "./config.ts";
import { jsSchemas } from "./schemas_on_demand.ts";
import { plainConsumerConfig, plainStreamConfig } from "./config_plain.ts";
import { directGet, msgGet } from "./direct.ts";
import { sourceCycle } from "./cycles.ts";
import type { JetStream } from "./engine.ts";
import type { Consumer } from "./consumer.ts";
import { type ApiError, Errors } from "./errors.ts";
import { limitsInfo, usedBytes } from "./limits.ts";
import type { Stream } from "./stream.ts";
import type { BusMsg } from "./types.ts";
import { subjectMatches, subjectsIntersect } from "../subjects/subject.ts";
import { notClusteredAnswer } from "./cluster/not_clustered.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const T = "io.nats.jetstream.api.v1.";
const NAMES_LIMIT = 1024;
const LIST_LIMIT = 256;
/** nats-server's page size for the subjects of a stream info with subjects_filter. */
const SUBJECTS_LIMIT = 100_000;

type Json = Record<string, unknown>;

function respond(js: JetStream, m: BusMsg, body: Json): void {
  if ("error" in body) js.apiStats.errors++;
  // Counted once answered (an $JS.API.INFO reports the requests before itself), as nats-server counts.
  js.apiStats.total++;
  if (m.reply) js.bus.publish(m.reply, enc.encode(JSON.stringify(body)));
}

/** A stream or consumer info as the API shows it: a server outside a JetStream cluster has no `cluster` block. */
function shown(js: JetStream, info: Json): Json {
  if (js.cluster === undefined) delete info.cluster;
  return info;
}

/** A consumer's info; in a JetStream cluster with the consumer group's `cluster` block. */
function consumerShown(js: JetStream, c: Consumer): Json {
  const info = c.info(undefined, js.opts.server_name ?? "petrel");
  const cl = js.cluster?.consumerCluster?.(c);
  if (cl) info.cluster = cl;
  return shown(js, info);
}

function fail(js: JetStream, m: BusMsg, type: string, err: ApiError): void {
  respond(js, m, { type: T + type, error: err });
}

/** Parses a JSON request body; empty bodies are `{}`. Shared by the single-server and the clustered API. */
export function body(m: BusMsg): Json | ApiError {
  if (m.payload.length === 0) return {};
  const text = dec.decode(m.payload);
  if (text.trim() === "") return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) return Errors.invalidJson("expected a JSON object");
    return v as Json;
  } catch (e) {
    return Errors.invalidJson(e instanceof Error ? e.message : String(e));
  }
}

export function isErr(v: unknown): v is ApiError {
  return typeof v === "object" && v !== null && "err_code" in v;
}

export function streamInfo(js: JetStream, s: Stream, req?: Json): Json {
  const state: Json = { ...s.state() };
  const filter = typeof req?.subjects_filter === "string" ? req.subjects_filter : undefined;
  if (filter) {
    state.subjects = s.subjectCounts(filter);
  }
  if (req?.deleted_details === true) {
    const deleted: number[] = [];
    for (let q = s.firstSequence; q <= s.lastSequence; q++) if (!s.has(q)) deleted.push(q);
    if (deleted.length > 0) state.deleted = deleted;
  }
  // Go's encoder leaves empty `omitempty` fields out.
  if (state.num_subjects === 0) delete state.num_subjects;
  // Mirrors' and sources' consumers on this stream are not counted, as nats-server does.
  for (const c of js.consumers.get(s.name)?.values() ?? []) {
    if (c.cfg.direct === true && s.listeners.has(c)) state.consumer_count = Number(state.consumer_count) - 1;
  }
  // In a cluster: every consumer of the stream, wherever it runs (nats-server counts its assignments).
  const everywhere = js.cluster?.consumerCount?.(s);
  if (everywhere !== undefined) state.consumer_count = everywhere;
  const info: Json = {
    config: streamConfigJson(s.cfg),
    created: s.created,
    state,
    cluster: js.cluster?.streamCluster(s) ?? { leader: js.opts.server_name ?? "petrel" },
    ts: new Date(js.now()).toISOString(),
  };
  if (s.cfg.mirror) info.mirror = sourceInfo(js, s.cfg.mirror, s);
  if (s.cfg.sources && s.cfg.sources.length > 0) info.sources = s.cfg.sources.map((x) => sourceInfo(js, x, s));
  return info;
}

function sourceInfo(js: JetStream, src: { name: string; external?: { api?: string; deliver?: string } }, s: Stream): Json {
  if (src.external?.api || js.cluster) {
    // Fed through an API (another one, or a replicated stream's leader through its own): lag as the origin's
    // consumer last reported it, active in ns since it spoke, the origin's refusal as nats-server shows it.
    const feed = js.externalFeed(s.name, src.name);
    const active = feed && feed.lastActive > 0 ? Math.max(0, js.now() - feed.lastActive) * 1_000_000 : -1;
    const out: Json = { name: src.name, lag: feed?.lag ?? 0, active };
    if (src.external?.api) out.external = src.external;
    if (feed?.error) out.error = feed.error;
    return out;
  }
  const origin = js.streams.get(src.name);
  return { name: src.name, lag: origin ? Math.max(0, origin.lastSequence - s.lastSequence) : 0, active: 0 };
}

/** Routes one `$JS.API.>` request. */
/**
 * Whether `$JS.API.<...>` request `subject` carries a config the zod schemas validate (a stream's create or
 * update, a consumer's create): only these wait for the schemas to load (engine.ts). Keep in step with the
 * `jsSchemas()` calls below.
 */
export function carriesConfig(subject: string): boolean {
  const op = subject.startsWith("$JS.API.") ? subject.slice(8) : "";
  return op.startsWith("STREAM.CREATE.") || op.startsWith("STREAM.UPDATE.") || op.startsWith("CONSUMER.CREATE.") ||
    op.startsWith("CONSUMER.DURABLE.CREATE.");
}

/**
 * Whether request `m` needs the zod schemas: it carries a config that is not plain (config_plain.ts parses a
 * plain one as the schema would, without loading zod). What cannot be read as JSON says yes (it waits as before).
 */
export function needsSchemas(m: BusMsg): boolean {
  if (!carriesConfig(m.subject)) return false;
  const req = body(m);
  if (isErr(req)) return true;
  return m.subject.startsWith("$JS.API.STREAM.")
    ? plainStreamConfig(req) === undefined
    : plainConsumerConfig(req.config ?? {}) === undefined;
}

/** A stream config from a request, parsed without zod when plain; zod's first issue as an API error otherwise. */
function parseStreamConfig(req: unknown): StreamConfig | ApiError {
  const plain = plainStreamConfig(req);
  if (plain !== undefined) return plain;
  const { streamConfigSchema, describeZodError } = jsSchemas();
  const parsed = streamConfigSchema.safeParse(req);
  return parsed.success ? parsed.data : Errors.invalidJson(describeZodError(parsed.error));
}

/** The same for a consumer config. */
function parseConsumerConfig(req: unknown): ConsumerConfig | ApiError {
  const plain = plainConsumerConfig(req);
  if (plain !== undefined) return plain;
  const { consumerConfigSchema, describeZodError } = jsSchemas();
  const parsed = consumerConfigSchema.safeParse(req);
  return parsed.success ? parsed.data : Errors.invalidJson(describeZodError(parsed.error));
}

export function handleApi(js: JetStream, m: BusMsg): void {
  const t = m.subject.split(".");
  // $JS.API.<...>
  const op = t.slice(2);
  const k = op.join(".");
  if (k === "INFO") return accountInfo(js, m);
  if (js.cluster === undefined) {
    const alone = notClusteredAnswer(op);
    if (alone) return respond(js, m, alone);
  }
  if (op[0] === "STREAM") return streamApi(js, m, op.slice(1));
  if (op[0] === "CONSUMER") return consumerApi(js, m, op.slice(1));
  if (op[0] === "DIRECT" && op[1] === "GET" && op.length >= 3) return directGet(js, m, op[2], op.slice(3).join("."));
  // nats-server does not answer subjects it does not serve.
}

/** `$JS.API.INFO`: the account's usage and limits, in nats-server 2.9's shape (no tiers for config accounts). */
function accountInfo(js: JetStream, m: BusMsg): void {
  const usage = js.usage();
  const info: Json = {
    type: T + "account_info_response",
    memory: usedBytes(usage, true),
    storage: usedBytes(usage, false),
    streams: js.streams.size,
    consumers: js.consumerCount(),
    limits: limitsInfo(js.limits),
    api: { total: js.apiStats.total, errors: js.apiStats.errors },
  };
  if (js.opts.domain) info.domain = js.opts.domain;
  respond(js, m, info);
}

function streamApi(js: JetStream, m: BusMsg, op: string[]): void {
  const verb = op[0];
  if (verb === "NAMES" || verb === "LIST") return streamList(js, m, verb === "NAMES");
  if (verb === "MSG" && (op[1] === "GET" || op[1] === "DELETE") && op.length === 3) {
    const s = js.streams.get(op[2]);
    const type = op[1] === "GET" ? "stream_msg_get_response" : "stream_msg_delete_response";
    if (!s) return fail(js, m, type, Errors.streamNotFound());
    const req = body(m);
    if (isErr(req)) return fail(js, m, type, req);
    if (op[1] === "GET") return msgGet(js, m, s, req);
    return msgDelete(js, m, s, req);
  }
  const name = op[1];
  // nats-server serves only the subjects it knows; anything else gets no answer at all.
  if (op.length !== 2 || !name) return;
  switch (verb) {
    case "CREATE":
    case "UPDATE":
      return streamCreate(js, m, name, verb === "UPDATE");
    case "INFO": {
      const s = js.streams.get(name);
      if (!s) return fail(js, m, "stream_info_response", Errors.streamNotFound());
      const req = body(m);
      if (isErr(req)) return fail(js, m, "stream_info_response", req);
      const info = shown(js, streamInfo(js, s, req));
      // With subjects_filter, the subjects are a page: nats-server reports their count and its page size.
      const subjects = (info.state as Json).subjects;
      const total = subjects ? Object.keys(subjects as Json).length : 0;
      const paging = subjects ? { total, offset: 0, limit: SUBJECTS_LIMIT } : { total: 0, offset: 0, limit: 0 };
      return respond(js, m, { type: T + "stream_info_response", ...paging, ...info });
    }
    case "DELETE": {
      const s = js.streams.get(name);
      if (!s) return fail(js, m, "stream_delete_response", Errors.streamNotFound());
      js.deleteStream(s);
      return respond(js, m, { type: T + "stream_delete_response", success: true });
    }
    case "PURGE": {
      const s = js.streams.get(name);
      const pfail = (e: ApiError) => respond(js, m, { type: T + "stream_purge_response", error: e, purged: 0 });
      if (!s) return pfail(Errors.streamNotFound());
      if (s.cfg.sealed) return pfail(Errors.streamSealed());
      if (s.cfg.deny_purge) return pfail(Errors.streamPurgeFailed("stream purge not permitted"));
      const req = body(m);
      if (isErr(req)) return pfail(req);
      const filter = typeof req.filter === "string" ? req.filter : undefined;
      const seq = typeof req.seq === "number" ? req.seq : undefined;
      const keep = typeof req.keep === "number" ? req.keep : undefined;
      if (seq !== undefined && keep !== undefined) return pfail(Errors.badRequest());
      const purged = s.purge({ filter, seq, keep });
      return respond(js, m, { type: T + "stream_purge_response", success: true, purged });
    }
  }
}

function streamCreate(js: JetStream, m: BusMsg, name: string, update: boolean): void {
  const type = update ? "stream_update_response" : "stream_create_response";
  // A create or update needs a config: nats-server decodes the empty body and fails.
  if (m.payload.length === 0) return fail(js, m, type, Errors.invalidJson());
  const req = body(m);
  if (isErr(req)) return fail(js, m, type, req);
  const cfg = parseStreamConfig(req);
  if (isErr(cfg)) return fail(js, m, type, cfg);
  if (cfg.name !== name) return fail(js, m, type, Errors.streamMismatch());
  const err = checkStreamConfig(cfg, { update });
  if (err) return fail(js, m, type, err);
  if (sourceCycle(cfg, (n) => js.streams.get(n)?.cfg)) return fail(js, m, type, Errors.streamInvalidConfig("detected cycle"));
  const existing = js.streams.get(name);
  if (update) {
    if (!existing) return fail(js, m, type, Errors.streamNotFound());
    // What an update may not change is checked before the subjects (as nats-server orders it).
    const uerr = checkStreamUpdate(existing.cfg, cfg);
    if (uerr) return fail(js, m, type, uerr);
    if (js.overlapping(cfg.subjects, name)) return fail(js, m, type, Errors.streamSubjectOverlap());
    const limitErr = js.checkStreamLimits(cfg, true);
    if (limitErr) return fail(js, m, type, limitErr);
    js.updateStream(existing, cfg);
    return respond(js, m, { type: T + type, ...shown(js, streamInfo(js, existing)) });
  }
  if (js.overlapping(cfg.subjects, name)) return fail(js, m, type, Errors.streamSubjectOverlap());
  if (existing) {
    if (JSON.stringify(existing.cfg) !== JSON.stringify(cfg)) return fail(js, m, type, Errors.streamNameExist());
    return respond(js, m, { type: T + type, ...shown(js, streamInfo(js, existing)), did_create: false });
  }
  // Stream count and the bytes max_bytes reserves: the account's limits, then the server's max_*_store.
  const limitErr = js.checkStreamLimits(cfg, false);
  if (limitErr) return fail(js, m, type, limitErr);
  const s = js.createStream(cfg);
  // nats-server's create response has no mirror/sources state (STREAM.INFO has).
  const { mirror: _m, sources: _s, ...created } = shown(js, streamInfo(js, s));
  respond(js, m, { type: T + type, ...created, did_create: true });
}

function streamList(js: JetStream, m: BusMsg, namesOnly: boolean): void {
  const type = namesOnly ? "stream_names_response" : "stream_list_response";
  const req = body(m);
  if (isErr(req)) return fail(js, m, type, req);
  const offset = typeof req.offset === "number" && req.offset > 0 ? req.offset : 0;
  const subject = typeof req.subject === "string" ? req.subject : undefined;
  let all = [...js.streams.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  if (subject) {
    // Every stream whose subjects could share a message with the filter (`*.A` finds `foo.*`), as nats-server.
    all = all.filter((s) => s.cfg.subjects.some((x) => subjectsIntersect(x, subject)));
  }
  const limit = namesOnly ? NAMES_LIMIT : LIST_LIMIT;
  // nats-server clamps the offset to the total, and an empty page of names is null (Go's nil slice).
  const from = Math.min(offset, all.length);
  const page = all.slice(from, from + limit);
  const out: Json = { type: T + type, total: all.length, offset: from, limit };
  if (namesOnly) out.streams = page.length > 0 ? page.map((s) => s.name) : null;
  else out.streams = page.map((s) => shown(js, streamInfo(js, s)));
  respond(js, m, out);
}

function msgDelete(js: JetStream, m: BusMsg, s: Stream, req: Json): void {
  const type = "stream_msg_delete_response";
  if (s.cfg.sealed) return fail(js, m, type, Errors.streamSealed());
  if (s.cfg.deny_delete) return fail(js, m, type, Errors.streamMsgDeleteFailed("message delete not permitted"));
  const seq = req.seq;
  if (typeof seq !== "number" || seq <= 0) return fail(js, m, type, Errors.badRequest());
  if (!s.deleteMsg(seq)) {
    return fail(js, m, type, Errors.streamMsgDeleteFailed(seq > s.lastSequence ? "stream store EOF" : "no message found"));
  }
  respond(js, m, { type: T + type, success: true });
}

// ---- consumers ----
function consumerApi(js: JetStream, m: BusMsg, op: string[]): void {
  const verb = op[0];
  if (verb === "CREATE") return consumerCreate(js, m, op[1], op[2], false, op.length > 3 ? op.slice(3).join(".") : undefined);
  if (verb === "DURABLE" && op[1] === "CREATE") return consumerCreate(js, m, op[2], op[3], true);
  if (verb === "NAMES" || verb === "LIST") return consumerList(js, m, op[1], verb === "NAMES");
  if (verb === "MSG" && op[1] === "NEXT" && op.length === 4) {
    const c = js.consumers.get(op[2])?.get(op[3]);
    if (!c || !m.reply) return;
    return c.pullRequest(m.reply, m.payload);
  }
  if ((verb === "INFO" || verb === "DELETE") && op.length === 3) {
    const type = verb === "INFO" ? "consumer_info_response" : "consumer_delete_response";
    if (!js.streams.has(op[1])) return fail(js, m, type, Errors.streamNotFound());
    const c = js.consumers.get(op[1])?.get(op[2]);
    if (!c) return fail(js, m, type, Errors.consumerNotFound());
    if (verb === "INFO") return respond(js, m, { type: T + type, ...consumerShown(js, c) });
    const deleted = (err?: ApiError) => (err ? fail(js, m, type, err) : respond(js, m, { type: T + type, success: true }));
    // Replicated: deleted and answered once its removal is committed.
    if (js.cluster?.deleteOnCommit?.(c, deleted) === true) return;
    js.deleteConsumer(c);
    return deleted();
  }
  // Not a subject nats-server serves: no answer.
}

function consumerCreate(
  js: JetStream,
  m: BusMsg,
  streamName: string | undefined,
  nameInSubject: string | undefined,
  legacyDurable: boolean,
  filterInSubject?: string,
): void {
  const type = "consumer_create_response";
  if (!streamName) return fail(js, m, type, Errors.badRequest());
  const req = body(m);
  if (isErr(req)) return fail(js, m, type, req);
  if (req.stream_name !== undefined && req.stream_name !== streamName) return fail(js, m, type, Errors.streamMismatch());
  const cfg = parseConsumerConfig(req.config ?? {});
  if (isErr(cfg)) return fail(js, m, type, cfg);
  const s = js.streams.get(streamName);
  if (!s) return fail(js, m, type, Errors.streamNotFound());
  if (legacyDurable) {
    if (!nameInSubject) return fail(js, m, type, Errors.consumerDurableNameNotInSubject());
    if (!cfg.durable_name) return fail(js, m, type, Errors.consumerDurableNameNotSet());
    if (cfg.durable_name !== nameInSubject) return fail(js, m, type, Errors.consumerDurableNameNotMatchSubject());
  } else if (nameInSubject) {
    // nats-server 2.9 compares the subject's name with `durable_name` only (a differing `name` is overridden).
    if (cfg.durable_name && cfg.durable_name !== nameInSubject) {
      return fail(js, m, type, Errors.consumerDurableNameNotMatchSubject());
    }
    cfg.name = nameInSubject;
    if (filterInSubject && cfg.filter_subject && cfg.filter_subject !== filterInSubject) {
      return fail(js, m, type, Errors.consumerCreate("consumer create request did not match filtered subject from create subject"));
    }
  } else if (cfg.durable_name) {
    return fail(js, m, type, Errors.consumerEphemeralWithDurableName());
  }
  // `action` (sent by 2.10-era clients) is ignored, as nats-server 2.9 does: an existing consumer is updated.
  const generated = !cfg.name && !cfg.durable_name;
  const c = js.createConsumer(s, cfg);
  if (isErr(c)) return fail(js, m, type, c);
  if (generated) markGeneratedName(c.cfg);
  const created = (err?: ApiError) => (err ? fail(js, m, type, err) : respond(js, m, { type: T + type, ...consumerShown(js, c) }));
  // Replicated: a new consumer, or an update, is answered once its assignment is committed.
  if (js.cluster?.answerCreate?.(c, m, created) !== true) created();
}

function consumerList(js: JetStream, m: BusMsg, streamName: string | undefined, namesOnly: boolean): void {
  const type = namesOnly ? "consumer_names_response" : "consumer_list_response";
  const s = streamName ? js.streams.get(streamName) : undefined;
  if (!s) return fail(js, m, type, Errors.streamNotFound());
  const req = body(m);
  if (isErr(req)) return fail(js, m, type, req);
  const offset = typeof req.offset === "number" && req.offset > 0 ? req.offset : 0;
  // A mirror's or source's consumer (`direct`) is not listed, as nats-server does.
  const all = [...(js.consumers.get(s.name)?.values() ?? [])].filter((c) => c.cfg.direct !== true)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const limit = namesOnly ? NAMES_LIMIT : LIST_LIMIT;
  const from = Math.min(offset, all.length);
  const page = all.slice(from, from + limit);
  const out: Json = { type: T + type, total: all.length, offset: from, limit };
  const server = js.opts.server_name ?? "petrel";
  if (namesOnly) out.consumers = page.map((c) => c.name);
  else {
    out.consumers = page.map((c) => shown(js, c.info(undefined, server)));
  }
  respond(js, m, out);
}
