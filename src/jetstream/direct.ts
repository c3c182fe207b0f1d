import { encodeHeaders, parseHeaders } from "../protocol/headers.ts";
import type { JetStream } from "./engine.ts";
import { type ApiError, Errors } from "./errors.ts";
import type { StoredMsg } from "./store/types.ts";
import { type Stream, tsString } from "./stream.ts";
import type { BusMsg } from "./types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

type Json = Record<string, unknown>;

export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Resolves `{seq}`, `{last_by_subj}` or `{next_by_subj, seq}` to a stored message. */
function lookup(s: Stream, req: Json): StoredMsg | ApiError {
  const seq = req.seq;
  const last = req.last_by_subj;
  const next = req.next_by_subj;
  if (seq !== undefined && typeof seq !== "number") return Errors.badRequest();
  if (last !== undefined && typeof last !== "string") return Errors.badRequest();
  if (next !== undefined && typeof next !== "string") return Errors.badRequest();
  if (seq !== undefined && last !== undefined) return Errors.badRequest();
  let found: number | undefined;
  if (typeof last === "string") found = s.lastBySubject(last);
  else if (typeof next === "string") found = s.nextMatching(typeof seq === "number" ? seq : 0, [next]);
  else if (typeof seq === "number" && seq > 0) found = seq;
  else return Errors.badRequest();
  const m = found !== undefined ? s.load(found) : undefined;
  return m ?? Errors.noMessageFound();
}

/** `$JS.API.STREAM.MSG.GET.<stream>`: the message as base64 JSON. */
export function msgGet(js: JetStream, m: BusMsg, s: Stream, req: Json): void {
  const type = "io.nats.jetstream.api.v1.stream_msg_get_response";
  const found = lookup(s, req);
  let out: Json;
  if ("err_code" in found) {
    js.apiStats.errors++;
    out = { type, error: found };
  } else {
    const message: Json = { subject: found.subject, seq: found.seq, time: tsString(found.time) };
    if (found.headers && found.headers.length > 0) message.hdrs = base64(found.headers);
    message.data = base64(found.data);
    out = { type, message };
  }
  if (m.reply) js.bus.publish(m.reply, enc.encode(JSON.stringify(out)));
}

/**
 * `$JS.API.DIRECT.GET.<stream>` (JSON body) and `$JS.API.DIRECT.GET.<stream>.<subject>` (last for subject):
 * the raw message with `Nats-Stream/-Subject/-Sequence/-Time-Stamp` headers, or a 404/408 status.
 */
export function directGet(js: JetStream, m: BusMsg, stream: string, subjectInToken: string): void {
  if (!m.reply) return;
  const s = js.streams.get(stream);
  if (!s || !s.cfg.allow_direct) {
    // nats-server has no responder for such streams; the closest we can say without one.
    js.bus.publish(m.reply, EMPTY, { headers: encodeHeaders([], 404, "Message Not Found") });
    return;
  }
  let req: Json = {};
  if (subjectInToken) {
    if (m.payload.length > 0) {
      js.bus.publish(m.reply, EMPTY, { headers: encodeHeaders([], 408, "Bad Request") });
      return;
    }
    req = { last_by_subj: subjectInToken };
  } else {
    try {
      const v: unknown = JSON.parse(dec.decode(m.payload));
      if (typeof v !== "object" || v === null) throw new Error("not an object");
      req = v as Json;
    } catch {
      js.bus.publish(m.reply, EMPTY, { headers: encodeHeaders([], 408, "Bad Request") });
      return;
    }
  }
  const found = lookup(s, req);
  if ("err_code" in found) {
    const hdr = found.code === 404 ? encodeHeaders([], 404, "Message Not Found") : encodeHeaders([], 408, "Bad Request");
    js.bus.publish(m.reply, EMPTY, { headers: hdr });
    return;
  }
  const entries: Array<[string, string]> = [];
  if (found.headers && found.headers.length > 0) {
    const parsed = parseHeaders(found.headers);
    if (typeof parsed !== "string") entries.push(...parsed.entries);
  }
  entries.push(
    ["Nats-Stream", s.name],
    ["Nats-Subject", found.subject],
    ["Nats-Sequence", String(found.seq)],
    ["Nats-Time-Stamp", tsString(found.time)],
  );
  js.bus.publish(m.reply, found.data, { headers: encodeHeaders(entries) });
}
