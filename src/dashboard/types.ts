/**
 * The shapes the dashboard's event stream carries, shared by the server (which builds them from the
 * monitoring endpoints' JSON) and the page's script (which renders them). Everything here is derived from
 * what /varz, /connz, /subsz, /routez, /gatewayz, /leafz, /accountz and /jsz already return.
 */

/** One point of the rate charts: per-second rates over the last interval, plus gauges. */
export interface RatePoint {
  /** Epoch milliseconds. */
  t: number;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  connections: number;
  slow_consumers: number;
}

export type LinkState = "up" | "down";

export interface TopologyNode {
  /** "self", a route peer, a gateway (remote cluster) or a leafnode remote. */
  kind: "self" | "route" | "gateway" | "leaf";
  name: string;
  id?: string;
  state: LinkState;
  /** Where the link goes or comes from. */
  address?: string;
  rtt?: string;
  /** For gateways: "outbound", "inbound" or both. */
  direction?: string;
  account?: string;
  /** For gateways: the remote cluster's servers (by id) linked with this one. */
  servers?: string[];
  in_msgs?: number;
  out_msgs?: number;
}

export interface Topology {
  cluster?: string;
  gateway?: string;
  nodes: TopologyNode[];
}

export interface ServerSummary {
  id: string;
  name: string;
  version: string;
  uptime: string;
  host: string;
  port: number;
  connections: number;
  total_connections: number;
  subscriptions: number;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  slow_consumers: number;
  mem: number;
  jetstream: boolean;
  auth_required: boolean;
}

export interface Page<T> {
  total: number;
  offset: number;
  limit: number;
  rows: T[];
}

export interface ConnRow {
  cid: number;
  name: string;
  account: string;
  /** The authorized user, as /connz?auth=true shows it. */
  user: string;
  ip: string;
  port: number;
  lang: string;
  version: string;
  subscriptions: number;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
  pending_bytes: number;
  uptime: string;
  idle: string;
  rtt: string;
  subjects: string[];
}

export interface SubRow {
  account: string;
  subject: string;
  qgroup: string;
  sid: string;
  msgs: number;
  cid: number;
}

export interface ReplicaInfo {
  name: string;
  current?: boolean;
  active?: string;
  lag?: number;
  offline?: boolean;
  peer?: string;
}

export interface ClusterInfo {
  name?: string;
  leader?: string;
  replicas?: ReplicaInfo[];
}

export interface ConsumerRow {
  name: string;
  num_pending: number;
  num_ack_pending: number;
  num_redelivered: number;
  num_waiting: number;
  delivered_seq: number;
  ack_floor_seq: number;
  cluster?: ClusterInfo;
}

export interface StreamRow {
  account: string;
  name: string;
  storage: string;
  replicas: number;
  messages: number;
  bytes: number;
  first_seq: number;
  last_seq: number;
  consumer_count: number;
  subjects: string[];
  /** A KV bucket's name when the stream backs one (KV_<bucket>). */
  kv?: string;
  cluster?: ClusterInfo;
  consumers: ConsumerRow[];
}

export interface JetStreamSummary {
  enabled: boolean;
  streams: number;
  consumers: number;
  messages: number;
  bytes: number;
  memory: number;
  storage: number;
  api_total: number;
  api_errors: number;
  /** Present when the server runs clustered JetStream. */
  meta?: ClusterInfo & { cluster_size?: number };
}

/** One frame of the event stream ("tick" events). */
export interface Tick {
  t: number;
  server: ServerSummary;
  rate: RatePoint | undefined;
  topology: Topology;
  accounts: string[];
  js: JetStreamSummary;
  /** Only the current tab's table is filled. */
  connections?: Page<ConnRow>;
  subscriptions?: Page<SubRow>;
  streams?: Page<StreamRow>;
  /** Names of all streams (for the message browser's picker), when that tab is open. */
  stream_names?: Array<{ name: string; kv?: string }>;
  /** Monitoring reads that failed this tick (the rest of the frame is still shown). */
  errors?: string[];
}

/** The first event on a stream ("hello"): the rate history so far. */
export interface Hello {
  history: RatePoint[];
  interval_ms: number;
  browse: boolean;
}

/** A message as the read-only browser returns it. */
export interface BrowsedMsg {
  subject: string;
  seq: number;
  time: string;
  headers?: string;
  /** UTF-8 text when it decodes cleanly, otherwise base64 with `binary: true`. */
  data: string;
  binary?: boolean;
  size: number;
  /** For KV history: PUT, DEL or PURGE. */
  op?: string;
}
