// nats-server's command line: every spelling nats-server accepts, with Go `flag` package rules
// (one or two dashes, `-flag value` or `-flag=value`, booleans take no separate value, parsing stops
// at the first non-flag argument or `--`).

import type { OptionLayer } from "../config/normalize.ts";
import { isPort, parseListen, toBytes, toDurationMs, urlCredentials } from "../config/units.ts";
import type { NotImplementedKey } from "../config/not_implemented.ts";

/**
 * nats-server command-line flags that turn on something Petrel does not implement: refused, like the keys of
 * src/config/not_implemented.ts (kept here: a start from flags loads no key tables).
 */
export const NOT_IMPLEMENTED_FLAGS: readonly { names: string[]; kind: "bool" | "string"; what: string; owner: NotImplementedKey["owner"] }[] = [
  { names: ["cluster_bootstrap"], kind: "bool", what: "clustered NATS Streaming", owner: "stan" },
  { names: ["ns", "nats_server"], kind: "string", what: "NATS Streaming on a remote NATS server", owner: "stan" },
  { names: ["encrypt"], kind: "bool", what: "NATS Streaming encryption at rest", owner: "stan" },
];

export type CliAction = "run" | "help" | "version" | "test";

export interface ParsedArgs {
  action: CliAction;
  configFile?: string;
  /** Values given on the command line; they win over the configuration file. */
  overrides: OptionLayer;
  /** E.g. flags nats-server knows that Petrel ignores. */
  warnings: string[];
}

export interface FlagError {
  flag?: string;
  message: string;
}

type FlagResult = { ok: true; value: ParsedArgs } | { ok: false; error: FlagError };

interface State {
  args: ParsedArgs;
}

interface FlagSpec {
  names: string[];
  kind: "bool" | "string";
  /** Returns an error message for a bad value, or undefined when applied. */
  apply(s: State, value: string, flag: string): string | undefined;
  /** Set for flags of features Petrel does not implement: what they turn on; the flag is refused. */
  refuse?: string;
}

const TRUE_WORDS = new Set(["1", "t", "true", "TRUE", "True"]);
const FALSE_WORDS = new Set(["0", "f", "false", "FALSE", "False"]);

/** An optional minus and at least one digit (no regex: flags are read at every start, see not_implemented.ts). */
function isInteger(value: string): boolean {
  const from = value.startsWith("-") ? 1 : 0;
  if (value.length === from) return false;
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function port(value: string): number | undefined {
  if (!isInteger(value)) return undefined;
  const n = Number(value);
  return isPort(n) ? n : undefined;
}

function cluster(s: State): NonNullable<OptionLayer["cluster"]> {
  s.args.overrides.cluster ??= {};
  return s.args.overrides.cluster;
}
function auth(s: State): NonNullable<OptionLayer["authorization"]> {
  s.args.overrides.authorization ??= {};
  return s.args.overrides.authorization;
}
function jetstream(s: State): NonNullable<OptionLayer["jetstream"]> {
  s.args.overrides.jetstream ??= {};
  return s.args.overrides.jetstream;
}

function tls(s: State): NonNullable<OptionLayer["tls"]> {
  s.args.overrides.tls ??= {};
  return s.args.overrides.tls;
}

function streaming(s: State): NonNullable<OptionLayer["streaming"]> {
  s.args.overrides.streaming ??= {};
  return s.args.overrides.streaming;
}

function streamingCluster(s: State): NonNullable<NonNullable<OptionLayer["streaming"]>["cluster"]> {
  const st = streaming(s);
  st.cluster ??= { node_id: "", peers: [], log_path: "" };
  return st.cluster;
}

/** A NATS Streaming limit flag: a count, a size or a duration, set into the streaming layer. */
function streamingLimit(
  names: string[],
  key: "max_channels" | "max_msgs" | "max_bytes" | "max_age" | "max_subs" | "max_inactivity",
  parse: (v: string) => number | undefined,
): FlagSpec {
  return {
    names,
    kind: "string",
    apply(s, v) {
      const n = parse(v);
      if (n === undefined || n < 0) {
        if (key === "max_age" || key === "max_inactivity") return 'expected a duration (e.g. "24h")';
        return key === "max_bytes" ? "expected a size" : "expected a non-negative integer";
      }
      streaming(s)[key] = n;
    },
  };
}
const count = (v: string) => (/^\d+$/.test(v) ? Number(v) : undefined);

const ignored = (kind: "bool" | "string", ...names: string[]): FlagSpec => ({
  names,
  kind,
  apply(s, _v, flag) {
    s.args.warnings.push(`flag ${flag} is not supported by Petrel yet (ignored)`);
    return undefined;
  },
});

const FLAGS: FlagSpec[] = [
  {
    names: ["p", "port"],
    kind: "string",
    apply(s, v) {
      const p = port(v);
      if (p === undefined) return "expected a port number (or -1 for a random port)";
      s.args.overrides.port = p;
    },
  },
  { names: ["a", "addr", "net"], kind: "string", apply: (s, v) => void (s.args.overrides.host = v) },
  { names: ["n", "name", "server_name"], kind: "string", apply: (s, v) => void (s.args.overrides.server_name = v) },
  { names: ["c", "config"], kind: "string", apply: (s, v) => void (s.args.configFile = v) },
  {
    names: ["m", "http_port"],
    kind: "string",
    apply(s, v) {
      const p = port(v);
      if (p === undefined) return "expected a port number (or -1 for a random port)";
      s.args.overrides.http_port = p;
    },
  },
  {
    names: ["ms", "https_port"],
    kind: "string",
    apply(s, v) {
      const p = port(v);
      if (p === undefined) return "expected a port number (or -1 for a random port)";
      s.args.overrides.https_port = p;
    },
  },
  {
    names: ["http"],
    kind: "string",
    apply(s, v) {
      const hp = parseListen(v);
      if (!hp) return 'expected "host:port"';
      if (hp.host !== undefined) s.args.overrides.http_host = hp.host;
      if (hp.port !== undefined) s.args.overrides.http_port = hp.port;
    },
  },
  { names: ["P", "pid"], kind: "string", apply: (s, v) => void (s.args.overrides.pid_file = v) },
  { names: ["l", "log"], kind: "string", apply: (s, v) => void (s.args.overrides.log_file = v) },
  { names: ["T", "logtime"], kind: "bool", apply: (s, v) => void (s.args.overrides.logtime = v === "true") },
  { names: ["D", "debug"], kind: "bool", apply: (s, v) => void (s.args.overrides.debug = v === "true") },
  { names: ["V", "trace", "VV"], kind: "bool", apply: (s, v) => void (s.args.overrides.trace = v === "true") },
  {
    names: ["DV", "DVV"],
    kind: "bool",
    apply(s, v) {
      s.args.overrides.debug = v === "true";
      s.args.overrides.trace = v === "true";
    },
  },
  { names: ["user"], kind: "string", apply: (s, v) => void (auth(s).user = v) },
  { names: ["pass"], kind: "string", apply: (s, v) => void (auth(s).password = v) },
  { names: ["auth"], kind: "string", apply: (s, v) => void (auth(s).token = v) },
  {
    names: ["cluster", "cluster_listen"],
    kind: "string",
    apply(s, v) {
      const hp = parseListen(v);
      if (!hp) return 'expected a cluster URL like "nats://host:port"';
      const c = cluster(s);
      if (hp.host !== undefined) c.host = hp.host;
      if (hp.port !== undefined) c.port = hp.port;
      const cred = urlCredentials(v);
      if (cred.user !== undefined || cred.password !== undefined) {
        c.authorization = { ...(c.authorization ?? {}), ...cred, timeout: c.authorization?.timeout ?? 2000 };
      }
    },
  },
  { names: ["cluster_name"], kind: "string", apply: (s, v) => void (cluster(s).name = v) },
  { names: ["cluster_advertise"], kind: "string", apply: (s, v) => void (cluster(s).advertise = v) },
  {
    names: ["routes"],
    kind: "string",
    apply(s, v) {
      cluster(s).routes = v.split(",").map((r) => r.trim()).filter((r) => r !== "");
    },
  },
  { names: ["no_advertise"], kind: "bool", apply: (s, v) => void (cluster(s).no_advertise = v === "true") },
  {
    names: ["connect_retries"],
    kind: "string",
    apply(s, v) {
      if (!/^\d+$/.test(v)) return "expected a non-negative integer";
      cluster(s).connect_retries = Number(v);
    },
  },
  { names: ["js", "jetstream"], kind: "bool", apply: (s, v) => void (jetstream(s).enabled = v === "true") },
  { names: ["sd", "store_dir"], kind: "string", apply: (s, v) => void (jetstream(s).store_dir = v) },
  // NATS Streaming (nats-streaming-server's flags): any of them turns streaming on.
  {
    names: ["cid", "cluster_id"],
    kind: "string",
    apply(s, v) {
      if (!/^[a-zA-Z0-9_-]+$/.test(v)) return 'only alphanumeric, "-" and "_"';
      streaming(s).cluster_id = v;
    },
  },
  {
    names: ["ft_group", "ft_group_name"],
    kind: "string",
    apply(s, v) {
      if (!/^[A-Za-z0-9_-]+$/.test(v)) return 'only alphanumeric, "-" and "_"';
      streaming(s).ft_group = v;
    },
  },
  {
    names: ["st", "store_type"],
    kind: "string",
    apply(s, v) {
      const k = v.toLowerCase();
      if (k !== "file" && k !== "memory" && k !== "sqlite") {
        return 'expected "file", "memory" or "sqlite" (the SQL store for MySQL/Postgres is not implemented by Petrel)';
      }
      streaming(s).store = k;
    },
  },
  { names: ["dir"], kind: "string", apply: (s, v) => void (streaming(s).dir = v) },
  { names: ["discover_prefix"], kind: "string", apply: (s, v) => void (streaming(s).discover_prefix = v) },
  streamingLimit(["mc", "max_channels"], "max_channels", count),
  streamingLimit(["mm", "max_msgs"], "max_msgs", count),
  streamingLimit(["mb", "max_bytes"], "max_bytes", (v) => toBytes(/^\d+$/.test(v) ? Number(v) : v)),
  streamingLimit(["ma", "max_age"], "max_age", (v) => toDurationMs(v)),
  streamingLimit(["msu", "max_subs"], "max_subs", count),
  streamingLimit(["mi", "max_inactivity"], "max_inactivity", (v) => toDurationMs(v)),
  {
    names: ["hbi", "hb_interval"],
    kind: "string",
    apply(s, v) {
      const d = toDurationMs(v);
      if (d === undefined || d <= 0) return 'expected a duration (e.g. "30s")';
      streaming(s).hb_interval = d;
    },
  },
  {
    names: ["hbt", "hb_timeout"],
    kind: "string",
    apply(s, v) {
      const d = toDurationMs(v);
      if (d === undefined || d <= 0) return 'expected a duration (e.g. "10s")';
      streaming(s).hb_timeout = d;
    },
  },
  {
    names: ["hbf", "hb_fail_count"],
    kind: "string",
    apply(s, v) {
      const n = count(v);
      if (n === undefined || n < 1) return "expected a positive integer";
      streaming(s).hb_fail_count = n;
    },
  },
  // Clustered NATS Streaming: any of them turns clustering on (the other values from the file's cluster block
  // are replaced by the flags' as a whole, like every nested block).
  {
    names: ["clustered"],
    kind: "bool",
    apply: (s, v) => void (v === "true" && streamingCluster(s)),
  },
  { names: ["cluster_node_id"], kind: "string", apply: (s, v) => void (streamingCluster(s).node_id = v) },
  {
    names: ["cluster_peers"],
    kind: "string",
    apply: (s, v) => void (streamingCluster(s).peers = v.split(",").map((p) => p.trim()).filter((p) => p !== "")),
  },
  { names: ["cluster_log_path"], kind: "string", apply: (s, v) => void (streamingCluster(s).log_path = v) },
  ignored("bool", "SD", "stan_debug"),
  ignored("bool", "SV", "stan_trace"),
  ignored("bool", "SDV"),
  { names: ["client_advertise"], kind: "string", apply: (s, v) => void (s.args.overrides.client_advertise = v) },
  { names: ["ports_file_dir"], kind: "string", apply: (s, v) => void (s.args.overrides.ports_file_dir = v) },
  { names: ["h", "help", "help_tls"], kind: "bool", apply: (s, v) => void (v === "true" && (s.args.action = "help")) },
  { names: ["v", "version"], kind: "bool", apply: (s, v) => void (v === "true" && (s.args.action = "version")) },
  { names: ["t"], kind: "bool", apply: (s, v) => void (v === "true" && (s.args.action = "test")) },
  ignored("bool", "s", "syslog"),
  ignored("string", "r", "remote_syslog"),
  ignored("string", "log_size_limit"),
  ignored("string", "max_traced_msg_len"),
  ignored("string", "profile"),
  // Fail closed: flags for features Petrel does not implement stop start-up (src/config/not_implemented.ts).
  ...NOT_IMPLEMENTED_FLAGS.map((f): FlagSpec => ({
    names: f.names,
    kind: f.kind,
    refuse: f.what,
    apply: () => undefined,
  })),
  { names: ["tls"], kind: "bool", apply: (s, v) => void (v === "true" && (tls(s).verify ??= false)) },
  { names: ["tlsverify"], kind: "bool", apply: (s, v) => void (tls(s).verify = v === "true") },
  { names: ["tlscert"], kind: "string", apply: (s, v) => void (tls(s).cert_file = v) },
  { names: ["tlskey"], kind: "string", apply: (s, v) => void (tls(s).key_file = v) },
  { names: ["tlscacert"], kind: "string", apply: (s, v) => void (tls(s).ca_file = v) },
];

/** Every name of every flag. Plain loops: flatMap/map with a callback per flag ran ~100 calls at every start and
 * got Array.prototype.map and the callbacks compiled by Bun's baseline JIT (its code then stays resident). */
const BY_NAME = new Map<string, FlagSpec>();
for (let i = 0; i < FLAGS.length; i++) {
  const names = FLAGS[i].names;
  for (let j = 0; j < names.length; j++) BY_NAME.set(names[j], FLAGS[i]);
}

/** Parse argv (without the executable / script path). Never throws. */
export function parseArgs(argv: readonly string[]): FlagResult {
  const state: State = { args: { action: "run", overrides: {}, warnings: [] } };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      i++;
      break;
    }
    if (arg.length < 2 || !arg.startsWith("-")) break;
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      return { ok: false, error: { flag: arg, message: `bad flag syntax: ${arg}` } };
    }
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const flag = `-${name}`;
    const spec = BY_NAME.get(name);
    if (!spec) return { ok: false, error: { flag: arg, message: `flag provided but not defined: ${flag}` } };
    let value: string;
    if (spec.kind === "bool") {
      if (eq < 0) value = "true";
      else {
        const raw = body.slice(eq + 1);
        if (TRUE_WORDS.has(raw)) value = "true";
        else if (FALSE_WORDS.has(raw)) value = "false";
        else return { ok: false, error: { flag, message: `invalid boolean value "${raw}" for flag ${flag}` } };
      }
    } else if (eq >= 0) {
      value = body.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) return { ok: false, error: { flag, message: `flag needs an argument: ${flag}` } };
      value = argv[++i];
    }
    if (spec.refuse !== undefined && (spec.kind === "string" || value === "true")) {
      const message = `flag ${flag}: ${spec.refuse} is not implemented by Petrel yet; refusing to start without it`;
      return { ok: false, error: { flag, message } };
    }
    const problem = spec.apply(state, value, flag);
    if (problem !== undefined) {
      return { ok: false, error: { flag, message: `invalid value "${value}" for flag ${flag}: ${problem}` } };
    }
  }
  // nats-server accepts `version` and `help` as commands after the flags.
  const rest = argv.slice(i);
  if (rest.length > 0) {
    if (rest[0] === "version" && rest.length === 1) state.args.action = "version";
    else if (rest[0] === "help" && rest.length === 1) state.args.action = "help";
    else return { ok: false, error: { message: `unrecognized command: "${rest.join(" ")}"` } };
  }
  return { ok: true, value: state.args };
}

export const USAGE = `Usage: nats-server [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222, -1 for random)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
        --http <host:port>           Bind monitoring to host:port
    -c, --config <file>              Configuration file (.conf, or .yaml/.yml)
    -t                               Test configuration and exit
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

NATS Streaming Options:
    -cid, --cluster_id <string>      Cluster ID (default: test-cluster)
    -st, --store_type <string>       Store type: MEMORY|FILE|SQLITE (default: MEMORY)
    -dir <string>                    For FILE store type, the root directory
    -mc, --max_channels <int>        Max number of channels (0 for unlimited)
    -msu, --max_subs <int>           Max number of subscriptions per channel (0 for unlimited)
    -mm, --max_msgs <int>            Max number of messages per channel (0 for unlimited)
    -mb, --max_bytes <size>          Max messages total size per channel (0 for unlimited)
    -ma, --max_age <duration>        Max duration a message can be stored ("0s" for unlimited)
    -mi, --max_inactivity <duration> Max inactivity (no new message, no subscription) after which a channel is removed
    -hbi, --hb_interval <duration>   Interval at which server sends heartbeat to a client
    -hbt, --hb_timeout <duration>    How long server waits for a heartbeat response
    -hbf, --hb_fail_count <int>      Number of failed heartbeats before server closes the client connection
    --ft_group <string>              Name of this server's fault-tolerance group (servers sharing one store)
    --clustered <bool>               Run the server in a cluster (Raft over this server's routes)
    --cluster_node_id <string>       ID of this node within the cluster
    --cluster_peers <string>         List of the cluster's node IDs (comma separated)
    --cluster_log_path <string>      Directory of the Raft log (default: <dir>/raft)

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
`;
