/**
 * The route protocol's messages as nats-server 2.9 writes them: the INFO and CONNECT JSON a route exchanges
 * on connect, and the byte framing of RS+/RS- (interest) and RMSG/HMSG (messages) with the account and queue
 * names nats-server puts in them. Pure functions; the connection state lives in route.ts.
 */
import type { z } from "zod";
import type { OutBuffer } from "../server/outbound.ts";
import { copy, copyRange, writeInt } from "../server/outbound.ts";
import { type Args, argString } from "../protocol/parser.ts";

/** The account of clients without one; nats-server calls the global account "$G". */
export const GLOBAL_ACCOUNT = "$G";
export const GLOBAL_ACCOUNT_BYTES = new TextEncoder().encode(GLOBAL_ACCOUNT);

/**
 * The route INFO and CONNECT are checked by hand, not with zod: a cluster node's config file is checked without
 * zod (src/config/plain.ts), and these two were all that still loaded it on every cluster node (~6-8 MB RSS). As
 * zod's loose objects did: a known key, when present, must have its type (null is not absent), unknown keys are
 * kept. test/cluster/protocol_check.test.ts compares the checks with zod schemas of the same shape.
 */
type Kind = "string" | "boolean" | "int" | "strings";

export interface RouteInfo {
  server_id: string;
  server_name?: string;
  version?: string;
  host?: string;
  port?: number;
  headers?: boolean;
  auth_required?: boolean;
  cluster?: string;
  cluster_dynamic?: boolean;
  connect_urls?: string[];
  ws_connect_urls?: string[];
  ip?: string;
  lnoc?: boolean;
  nonce?: string;
  [key: string]: unknown;
}

export interface RouteConnect {
  echo?: boolean;
  verbose?: boolean;
  pedantic?: boolean;
  user?: string;
  pass?: string;
  auth_token?: string;
  tls_required?: boolean;
  headers?: boolean;
  name?: string;
  cluster?: string;
  dynamic?: boolean;
  lnoc?: boolean;
  [key: string]: unknown;
}

/** The known keys of a route INFO and their kinds (all optional but server_id). */
export const ROUTE_INFO_KEYS: Readonly<Record<string, Kind>> = {
  server_id: "string",
  server_name: "string",
  version: "string",
  host: "string",
  port: "int",
  headers: "boolean",
  auth_required: "boolean",
  cluster: "string",
  cluster_dynamic: "boolean",
  connect_urls: "strings",
  ws_connect_urls: "strings",
  ip: "string",
  lnoc: "boolean",
  nonce: "string",
};

/** The known keys of a route CONNECT and their kinds (all optional). */
export const ROUTE_CONNECT_KEYS: Readonly<Record<string, Kind>> = {
  echo: "boolean",
  verbose: "boolean",
  pedantic: "boolean",
  user: "string",
  pass: "string",
  auth_token: "string",
  tls_required: "boolean",
  headers: "boolean",
  name: "string",
  cluster: "string",
  dynamic: "boolean",
  lnoc: "boolean",
};

function isKind(v: unknown, kind: Kind): boolean {
  switch (kind) {
    case "string":
      return typeof v === "string";
    case "boolean":
      return typeof v === "boolean";
    case "int":
      return typeof v === "number" && Number.isSafeInteger(v);
    case "strings":
      return Array.isArray(v) && v.every((x) => typeof x === "string");
  }
}

/** A JSON object whose known keys, where present, have their kinds; undefined for anything else. */
function checkedObject(text: string, keys: Readonly<Record<string, Kind>>): Record<string, unknown> | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  for (const k in keys) {
    if (Object.hasOwn(o, k) && o[k] !== undefined && !isKind(o[k], keys[k])) return undefined;
  }
  return o;
}

/** The JSON argument of an INFO or CONNECT, if it is JSON of the schema's shape (used by gateways and leafnodes). */
export function parseJsonAs<T>(schema: z.ZodType<T>, text: string): T | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = schema.safeParse(json);
  return r.success ? r.data : undefined;
}

export function parseRouteInfo(text: string): RouteInfo | undefined {
  const o = checkedObject(text, ROUTE_INFO_KEYS);
  if (o === undefined || typeof o.server_id !== "string" || o.server_id.length === 0) return undefined;
  return o as RouteInfo;
}

export function parseRouteConnect(text: string): RouteConnect | undefined {
  return checkedObject(text, ROUTE_CONNECT_KEYS) as RouteConnect | undefined;
}

/** `RS+ <acc> subject [queue weight]` / `RS- <acc> subject [queue]`. */
export function interestLine(added: boolean, subject: string, queue: string | undefined, weight: number, account = GLOBAL_ACCOUNT): string {
  if (!added) return queue === undefined ? `RS- ${account} ${subject}\r\n` : `RS- ${account} ${subject} ${queue}\r\n`;
  return queue === undefined ? `RS+ ${account} ${subject}\r\n` : `RS+ ${account} ${subject} ${queue} ${weight}\r\n`;
}

const SP = 32;
const PLUS = 43;
const BAR = 124;

/**
 * Append one routed message: `RMSG <acc> subject [+ reply q1 q2 | | q1 q2 | reply] size`, the HMSG form with
 * the header size before the total when the message has headers. Returns the frame's start offset.
 */
export function writeRoutedMsg(
  out: OutBuffer,
  subject: Uint8Array,
  reply: Uint8Array | null,
  queues: readonly Uint8Array[],
  hdrSize: number,
  payload: Uint8Array,
  account: Uint8Array = GLOBAL_ACCOUNT_BYTES,
  payloadStart = 0,
  payloadEnd: number = payload.length,
): number {
  return writeMsgFrame(out, 82, account, subject, reply, queues, hdrSize, payload, payloadStart, payloadEnd);
}

/** A frame writer: RMSG for routes and gateways, LMSG for leafnodes. */
export type FrameWriter = typeof writeRoutedMsg;

/**
 * The message frame servers exchange: `<op>MSG [<acc> ]subject [+ reply q1 q2 | | q1 q2 | reply] size` (op `R`
 * for routes and gateways, `L` for leafnodes, which name no account: null), `HMSG` when the message has headers.
 * The payload is `payload[payloadStart, payloadEnd)`: a range of a client's input needs no view (LocalMsg).
 * Queue names (a message to a queue group's member across the link) are written by writeQueueNames, apart from
 * this per-message function: the optimizing compilers compile all of a function's code (bench/RESULTS.md
 * `hotcode`).
 */
export function writeMsgFrame(
  out: OutBuffer,
  op: number,
  account: Uint8Array | null,
  subject: Uint8Array,
  reply: Uint8Array | null,
  queues: readonly Uint8Array[],
  hdrSize: number,
  payload: Uint8Array,
  payloadStart: number,
  payloadEnd: number,
): number {
  const size = payloadEnd - payloadStart;
  const qlen = queues.length === 0 ? 0 : queueNamesLength(queues);
  const hasReply = reply !== null && reply.length > 0;
  out.ensure(subject.length + (hasReply ? reply.length : 0) + qlen + size + (account === null ? 0 : account.length) + 64);
  const b = out.buf;
  const start = out.len;
  let i = start;
  // "RMSG <acc> " / "HMSG <acc> " / "LMSG ", byte by byte: cheaper than set() for a handful of bytes.
  b[i++] = hdrSize >= 0 ? 72 : op;
  b[i++] = 77;
  b[i++] = 83;
  b[i++] = 71;
  if (account !== null) {
    b[i++] = SP;
    i = copy(b, i, account);
  }
  b[i++] = SP;
  i = copy(b, i, subject);
  b[i++] = SP;
  if (queues.length > 0) {
    i = writeQueueNames(b, i, hasReply ? reply : null, queues);
  } else if (hasReply) {
    i = copy(b, i, reply);
    b[i++] = SP;
  }
  if (hdrSize >= 0) {
    i = writeInt(b, i, hdrSize);
    b[i++] = SP;
  }
  i = writeInt(b, i, size);
  b[i++] = 13;
  b[i++] = 10;
  i = copyRange(b, i, payload, payloadStart, payloadEnd);
  b[i++] = 13;
  b[i++] = 10;
  out.len = i;
  return start;
}

/** The bytes writeQueueNames adds for `queues` besides the marker and the reply. */
function queueNamesLength(queues: readonly Uint8Array[]): number {
  let n = 0;
  for (let k = 0; k < queues.length; k++) n += queues[k].length + 1;
  return n;
}

/** `+ reply q1 q2 ` (a request) or `| q1 q2 ` at b[i]; returns the offset after it. */
function writeQueueNames(b: Uint8Array, i: number, reply: Uint8Array | null, queues: readonly Uint8Array[]): number {
  b[i++] = reply !== null ? PLUS : BAR;
  b[i++] = SP;
  if (reply !== null) {
    i = copy(b, i, reply);
    b[i++] = SP;
  }
  for (let k = 0; k < queues.length; k++) {
    i = copy(b, i, queues[k]);
    b[i++] = SP;
  }
  return i;
}

/** Where the reply and queue names sit in an RMSG/HMSG line, as argument indexes. */
export interface RoutedArgs {
  /** -1 when the message has no reply. */
  readonly reply: number;
  /** Argument indexes of the queue names, [first, end). */
  readonly queueFrom: number;
  readonly queueTo: number;
}

/** A frame with neither reply nor queues (the common case: one shared answer, no object per message). */
const NO_EXTRAS: RoutedArgs = Object.freeze({ reply: -1, queueFrom: 0, queueTo: 0 });

/**
 * The queue groups a routed frame names (arguments [from, to)); undefined when it names none. `into` (a link's one
 * list, emptied and filled again) instead of an array per frame: a request to a queue-group service names its group.
 */
export function queueNames(args: Args, ra: RoutedArgs, into: string[] = []): string[] | undefined {
  if (ra.queueTo <= ra.queueFrom) return undefined;
  into.length = 0;
  for (let i = ra.queueFrom; i < ra.queueTo; i++) into.push(argString(args, i));
  return into;
}

/** Filled in by routedArgs for each frame: one per link instead of an object per message with a reply. */
export interface RoutedArgsOut {
  reply: number;
  queueFrom: number;
  queueTo: number;
}

/**
 * Read the optional part of `RMSG acc subject [...] size` (args already split; `first` is the index after
 * the subject, `sizes` how many trailing size arguments there are) into `into`, or the shared answer for a frame
 * with neither reply nor queues. undefined when malformed.
 */
export function routedArgs(
  line: Uint8Array,
  starts: Int32Array,
  ends: Int32Array,
  count: number,
  first: number,
  sizes: number,
  into: RoutedArgsOut = { reply: -1, queueFrom: 0, queueTo: 0 },
): RoutedArgs | undefined {
  const last = count - sizes; // index after the optional part
  const n = last - first;
  if (n < 0) return undefined;
  if (n === 0) return NO_EXTRAS;
  if (n === 1) return fill(into, first, 0, 0);
  const marker = ends[first] - starts[first] === 1 ? line[starts[first]] : 0;
  if (marker === PLUS) {
    if (n < 2) return undefined;
    return fill(into, first + 1, first + 2, last);
  }
  if (marker === BAR) return fill(into, -1, first + 1, last);
  return undefined;
}

function fill(into: RoutedArgsOut, reply: number, queueFrom: number, queueTo: number): RoutedArgs {
  into.reply = reply;
  into.queueFrom = queueFrom;
  into.queueTo = queueTo;
  return into;
}
