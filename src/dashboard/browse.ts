/**
 * The read-only message browser: stream messages by sequence and subject, KV buckets' keys, values and
 * history. It asks JetStream's own API ($JS.API.STREAM.MSG.GET / STREAM.INFO) as an internal client of the
 * default account, the way any client would, and only ever reads. Callers decide whether it may run at all
 * (see mount.ts: only on a server that asks clients for no credentials, where the client port already lets
 * anyone read the same messages).
 */
import type { InternalClient, InternalMsg } from "../server/internal.ts";
import { randomToken } from "../server/ids.ts";
import type { Server } from "../server/server.ts";
import { isValidSubject } from "../subjects/subject.ts";
import type { BrowsedMsg } from "./types.ts";

type Json = Record<string, unknown>;
export type Result<T> = { ok: true; value: T } | { ok: false; status: number; error: string };

const enc = new TextEncoder();
const dec = new TextDecoder();
const strict = new TextDecoder("utf-8", { fatal: true });

const STREAM_NAME = /^[^\s.*>/\\]{1,255}$/;
const BUCKET = /^[a-zA-Z0-9_-]{1,255}$/;
const KEY = /^[-/_=.a-zA-Z0-9]{1,1024}$/;
export const MAX_MESSAGES = 100;
const MAX_KEYS = 1000;

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The JSON message of STREAM.MSG.GET, decoded for people: text when it is UTF-8, base64 otherwise. */
export function browsed(m: Json): BrowsedMsg {
  const data = typeof m.data === "string" ? fromBase64(m.data) : new Uint8Array(0);
  const headers = typeof m.hdrs === "string" ? dec.decode(fromBase64(m.hdrs)) : undefined;
  let text: string | undefined;
  try {
    text = strict.decode(data);
  } catch {
    text = undefined;
  }
  const op = headers?.match(/^KV-Operation:\s*(\S+)/im)?.[1];
  const out: BrowsedMsg = {
    subject: String(m.subject ?? ""),
    seq: Number(m.seq ?? 0),
    time: String(m.time ?? ""),
    data: text ?? btoa(String.fromCharCode(...data)),
    size: data.length,
  };
  if (text === undefined) out.binary = true;
  if (headers !== undefined) out.headers = headers;
  if (op !== undefined) out.op = op.toUpperCase();
  return out;
}

export class MessageBrowser {
  readonly #server: Server;
  readonly #timeoutMs: number;
  #client: InternalClient | undefined;
  #inbox = "";
  #next = 0;
  readonly #pending = new Map<string, (m: InternalMsg) => void>();

  constructor(server: Server, timeoutMs = 2000) {
    this.#server = server;
    this.#timeoutMs = timeoutMs;
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
    for (const resolve of this.#pending.values()) resolve({ subject: "", payload: new Uint8Array(0) });
    this.#pending.clear();
  }

  /** One JetStream API request; a reply with `error` or no reply in time is an error value. */
  async #api(subject: string, body: Json): Promise<Result<Json>> {
    if (this.#client === undefined) {
      // The global account: where a client that presents no credentials lands.
      this.#client = this.#server.createInternalClient("$DASHBOARD", { account: this.#server.accounts.global.name });
      this.#inbox = `_INBOX.${randomToken()}`;
      this.#client.subscribe(`${this.#inbox}.*`, (m) => {
        const token = m.subject.slice(this.#inbox.length + 1);
        const resolve = this.#pending.get(token);
        this.#pending.delete(token);
        resolve?.(m);
      });
    }
    const token = String(++this.#next);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = new Promise<InternalMsg | undefined>((resolve) => {
      this.#pending.set(token, resolve);
      timer = setTimeout(() => {
        this.#pending.delete(token);
        resolve(undefined);
      }, this.#timeoutMs);
    });
    const delivered = this.#client.publish(subject, enc.encode(JSON.stringify(body)), { reply: `${this.#inbox}.${token}` });
    if (delivered === 0) {
      clearTimeout(timer);
      this.#pending.delete(token);
      return { ok: false, status: 503, error: "JetStream is not available on this server" };
    }
    const m = await reply;
    clearTimeout(timer);
    if (m === undefined || m.payload.length === 0) return { ok: false, status: 504, error: `no reply from ${subject}` };
    let v: unknown;
    try {
      v = JSON.parse(dec.decode(m.payload));
    } catch {
      return { ok: false, status: 502, error: `unreadable reply from ${subject}` };
    }
    const j = (typeof v === "object" && v !== null ? v : {}) as Json;
    const err = j.error as { code?: number; description?: string } | undefined;
    if (err !== undefined) return { ok: false, status: err.code ?? 500, error: err.description ?? "JetStream error" };
    return { ok: true, value: j };
  }

  /** Up to `limit` messages from sequence `seq` on, whose subject matches `subject` (default: all). */
  async messages(stream: string, seq: number, subject: string, limit: number): Promise<Result<BrowsedMsg[]>> {
    if (!STREAM_NAME.test(stream)) return { ok: false, status: 400, error: `invalid stream name: ${stream}` };
    if (subject !== "" && !isValidSubject(subject)) return { ok: false, status: 400, error: `invalid subject: ${subject}` };
    const filter = subject === "" ? ">" : subject;
    const out: BrowsedMsg[] = [];
    let next = Math.max(1, Math.floor(seq));
    const n = Math.min(Math.max(1, Math.floor(limit)), MAX_MESSAGES);
    while (out.length < n) {
      const r = await this.#api(`$JS.API.STREAM.MSG.GET.${stream}`, { seq: next, next_by_subj: filter });
      if (!r.ok) {
        if (r.error === "no message found") break; // past the last match: the page is complete
        return r;
      }
      const m = browsed(r.value.message as Json);
      out.push(m);
      next = m.seq + 1;
    }
    return { ok: true, value: out };
  }

  /** The bucket's keys (with how many revisions each has kept), optionally filtered by a substring. */
  async kvKeys(bucket: string, q: string): Promise<Result<{ keys: Array<{ key: string; revisions: number }>; total: number }>> {
    if (!BUCKET.test(bucket)) return { ok: false, status: 400, error: `invalid bucket name: ${bucket}` };
    const prefix = `$KV.${bucket}.`;
    const r = await this.#api(`$JS.API.STREAM.INFO.KV_${bucket}`, { subjects_filter: `${prefix}>` });
    if (!r.ok) return r;
    const subjects = ((r.value.state as Json | undefined)?.subjects ?? {}) as Record<string, number>;
    const needle = q.toLowerCase();
    const keys = Object.entries(subjects)
      .map(([s, n]) => ({ key: s.slice(prefix.length), revisions: n }))
      .filter((k) => needle === "" || k.key.toLowerCase().includes(needle))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { ok: true, value: { keys: keys.slice(0, MAX_KEYS), total: keys.length } };
  }

  /** A key's kept revisions, oldest first (the last one is its current value, or its delete marker). */
  async kvHistory(bucket: string, key: string): Promise<Result<BrowsedMsg[]>> {
    if (!BUCKET.test(bucket)) return { ok: false, status: 400, error: `invalid bucket name: ${bucket}` };
    if (!KEY.test(key) || key.startsWith(".") || key.endsWith(".")) return { ok: false, status: 400, error: `invalid key: ${key}` };
    return await this.messages(`KV_${bucket}`, 1, `$KV.${bucket}.${key}`, MAX_MESSAGES);
  }
}
