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
    // nats-server counts a failed message get in api.total, a successful one not.
    js.apiStats.errors++;
    js.apiStats.total++;
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
 * Reads a Direct Get body as nats-server 2.9.10 does: nothing at all or nothing set is an "Empty Request", JSON
 * that does not decode into `{seq: uint, last_by_subj: string, next_by_subj: string}` is a "Malformed Request",
 * seq together with last_by_subj, or last_by_subj with next_by_subj, is a "Bad Request".
 */
export function directRequest(payload: Uint8Array): Json | string {
  if (payload.length === 0) return "Empty Request";
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(payload));
  } catch {
    return "Malformed Request";
  }
  if (v === null) return "Empty Request";
  if (typeof v !== "object" || Array.isArray(v)) return "Malformed Request";
  const r = v as Json;
  const seq = r.seq ?? 0;
  const last = r.last_by_subj ?? "";
  const next = r.next_by_subj ?? "";
  if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 0) return "Malformed Request";
  if (typeof last !== "string" || typeof next !== "string") return "Malformed Request";
  if (seq === 0 && last === "" && next === "") return "Empty Request";
  if ((seq > 0 && last !== "") || (last !== "" && next !== "")) return "Bad Request";
  const out: Json = {};
  if (seq > 0) out.seq = seq;
  if (last !== "") out.last_by_subj = last;
  if (next !== "") out.next_by_subj = next;
  return out;
}

/**
 * `$JS.API.DIRECT.GET.<stream>` (JSON body) and `$JS.API.DIRECT.GET.<stream>.<subject>` (last for subject):
 * the raw message with `Nats-Stream/-Subject/-Sequence/-Time-Stamp` headers, or a 404/408 status.
 */
export function directGet(js: JetStream, m: BusMsg, stream: string, subjectInToken: string): void {
  if (!m.reply) return;
  const s = js.streams.get(stream);
  // nats-server serves Direct Get only for streams with allow_direct: any other request gets no answer at all.
  if (!s || !s.cfg.allow_direct) return;
  const status = (code: number, text: string) => js.bus.publish(m.reply ?? "", EMPTY, { headers: encodeHeaders([], code, text) });
  let req: Json;
  if (subjectInToken) {
    if (m.payload.length > 0) return status(408, "Bad Request");
    req = { last_by_subj: subjectInToken };
  } else {
    const parsed = directRequest(m.payload);
    if (typeof parsed === "string") return status(408, parsed);
    req = parsed;
  }
  const found = lookup(s, req);
  if ("err_code" in found) return found.code === 404 ? status(404, "Message Not Found") : status(408, "Bad Request");
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
