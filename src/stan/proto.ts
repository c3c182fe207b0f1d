/**
 * The NATS Streaming wire protocol: protobuf messages exchanged over NATS subjects. Our own schema (field numbers
 * as the official clients and nats-streaming-server use them), compiled at load by protobufjs. Decoding never
 * throws: malformed bytes come back as an error value that the caller turns into the protocol's error response.
 */
import protobuf from "protobufjs";

const SCHEMA = `
syntax = "proto3";
package pb;

message PubMsg {
  string clientID = 1;
  string guid     = 2;
  string subject  = 3;
  string reply    = 4;
  bytes  data     = 5;
  bytes  connID   = 6;
  bytes  sha256   = 10;
}
message PubAck {
  string guid  = 1;
  string error = 2;
}
message MsgProto {
  uint64 sequence        = 1;
  string subject         = 2;
  string reply           = 3;
  bytes  data            = 4;
  int64  timestamp       = 5;
  bool   redelivered     = 6;
  uint32 redeliveryCount = 7;
  uint32 CRC32           = 10;
}
message Ack {
  string subject  = 1;
  uint64 sequence = 2;
}
message ConnectRequest {
  string clientID       = 1;
  string heartbeatInbox = 2;
  int32  protocol       = 3;
  bytes  connID         = 4;
  int32  pingInterval   = 5;
  int32  pingMaxOut     = 6;
}
message ConnectResponse {
  string pubPrefix        = 1;
  string subRequests      = 2;
  string unsubRequests    = 3;
  string closeRequests    = 4;
  string error            = 5;
  string subCloseRequests = 6;
  string pingRequests     = 7;
  int32  pingInterval     = 8;
  int32  pingMaxOut       = 9;
  int32  protocol         = 10;
  string publicKey        = 100;
}
message Ping {
  bytes connID = 1;
}
message PingResponse {
  string error = 1;
}
enum StartPosition {
  NewOnly        = 0;
  LastReceived   = 1;
  TimeDeltaStart = 2;
  SequenceStart  = 3;
  First          = 4;
}
message SubscriptionRequest {
  string        clientID       = 1;
  string        subject        = 2;
  string        qGroup         = 3;
  string        inbox          = 4;
  int32         maxInFlight    = 5;
  int32         ackWaitInSecs  = 6;
  string        durableName    = 7;
  StartPosition startPosition  = 10;
  uint64        startSequence  = 11;
  int64         startTimeDelta = 12;
}
message SubscriptionResponse {
  string ackInbox = 2;
  string error    = 3;
}
message UnsubscribeRequest {
  string clientID    = 1;
  string subject     = 2;
  string inbox       = 3;
  string durableName = 4;
}
message CloseRequest {
  string clientID = 1;
}
message CloseResponse {
  string error = 1;
}
`;

export const StartPosition = { NewOnly: 0, LastReceived: 1, TimeDeltaStart: 2, SequenceStart: 3, First: 4 } as const;

export interface PubMsg {
  clientID: string;
  guid: string;
  subject: string;
  reply: string;
  data: Uint8Array;
  connID: Uint8Array;
}
export interface PubAck {
  guid: string;
  error?: string;
}
export interface MsgProto {
  sequence: number;
  subject: string;
  reply?: string;
  data: Uint8Array;
  /** Nanoseconds since the epoch. */
  timestamp: bigint;
  redelivered?: boolean;
  redeliveryCount?: number;
}
export interface Ack {
  subject: string;
  sequence: number;
}
export interface ConnectRequest {
  clientID: string;
  heartbeatInbox: string;
  protocol: number;
  connID: Uint8Array;
  pingInterval: number;
  pingMaxOut: number;
}
export interface ConnectResponse {
  pubPrefix?: string;
  subRequests?: string;
  unsubRequests?: string;
  closeRequests?: string;
  error?: string;
  subCloseRequests?: string;
  pingRequests?: string;
  pingInterval?: number;
  pingMaxOut?: number;
  protocol?: number;
}
export interface Ping {
  connID: Uint8Array;
}
export interface PingResponse {
  error?: string;
}
export interface SubscriptionRequest {
  clientID: string;
  subject: string;
  qGroup: string;
  inbox: string;
  maxInFlight: number;
  ackWaitInSecs: number;
  durableName: string;
  startPosition: number;
  startSequence: number;
  /** Nanoseconds. */
  startTimeDelta: number;
}
export interface SubscriptionResponse {
  ackInbox?: string;
  error?: string;
}
export interface UnsubscribeRequest {
  clientID: string;
  subject: string;
  inbox: string;
  durableName: string;
}
export interface CloseRequest {
  clientID: string;
}
export interface CloseResponse {
  error?: string;
}

interface Types {
  PubMsg: PubMsg;
  PubAck: PubAck;
  MsgProto: MsgProto;
  Ack: Ack;
  ConnectRequest: ConnectRequest;
  ConnectResponse: ConnectResponse;
  Ping: Ping;
  PingResponse: PingResponse;
  SubscriptionRequest: SubscriptionRequest;
  SubscriptionResponse: SubscriptionResponse;
  UnsubscribeRequest: UnsubscribeRequest;
  CloseRequest: CloseRequest;
  CloseResponse: CloseResponse;
}
export type TypeName = keyof Types;

const root = protobuf.parse(SCHEMA, { keepCase: true }).root;
const types = new Map<string, protobuf.Type>();
function type(name: TypeName): protobuf.Type {
  let t = types.get(name);
  if (t === undefined) {
    t = root.lookupType(`pb.${name}`);
    types.set(name, t);
  }
  return t;
}

const MASK32 = 0xffffffffn;

/** A 64-bit integer as protobufjs's long bits. */
function longBits(v: bigint): { low: number; high: number; unsigned: boolean } {
  return { low: Number(v & MASK32) | 0, high: Number((v >> 32n) & MASK32) | 0, unsigned: false };
}

/** Encodes a message; bigint fields become 64-bit values. */
export function encode<K extends TypeName>(name: K, msg: Types[K]): Uint8Array {
  const obj: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) {
    if (v === undefined) continue;
    obj[k] = typeof v === "bigint" ? longBits(v) : v;
  }
  const t = type(name);
  return t.encode(t.fromObject(obj)).finish();
}

/** Decodes a message with every field present (defaults for missing ones); 64-bit integers as numbers. */
export function decode<K extends TypeName>(name: K, bytes: Uint8Array): { ok: true; value: Types[K] } | { ok: false; error: string } {
  const t = type(name);
  try {
    const m = t.decode(bytes);
    const o = t.toObject(m, { longs: Number, defaults: true, enums: Number, bytes: Uint8Array as unknown as typeof String });
    return { ok: true, value: o as Types[K] };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}
