// The one schema for a raw configuration (nats-server key names and aliases), for conf and YAML alike,
// and the normalized `ServerOptions` the server runs with.
//
// Leaf types are z.custom validators whose error text is the expectation printed to the operator
// ("petrel.conf:3: max_payload: expected a size (e.g. 1MB), got "abc""). Blocks are loose objects: unknown
// keys are reported as warnings by validate.ts, never as errors.

import { streamingSchema } from "./streaming_schema.ts";
import { z } from "zod";
import { parseGoDuration, toBytes } from "./units.ts";
import * as L from "./leaf_checks.ts";
import { tlsBlockSchema } from "../tls/schema.ts";

// --- leaf validators ---------------------------------------------------------------------------
// The checks themselves live in leaf_checks.ts (zod-free), shared with plain.ts.

export const confString = z.custom<string | number>(L.STRING.test, { error: L.STRING.error });
export const confBool = z.custom<boolean | string>(L.BOOL.test, { error: L.BOOL.error });
export const confInt = z.custom<number>(L.INT.test, { error: L.INT.error });
export const confCount = z.custom<number>(L.COUNT.test, { error: L.COUNT.error });
export const confPort = z.custom<number>(L.PORT.test, { error: L.PORT.error });
export const confSize = z.custom<number | string>(L.SIZE.test, { error: L.SIZE.error });
/** Sizes where -1 means "unlimited / decided by the server" (JetStream limits). */
export const confSizeOrUnlimited = z.custom<number | string>(L.SIZE_OR_UNLIMITED.test, { error: L.SIZE_OR_UNLIMITED.error });
export const confDuration = z.custom<number | string>(L.DURATION.test, { error: L.DURATION.error });
/** Duration written as a Go duration string only (lame_duck_duration, as nats-server requires). */
export const confDurationString = z.custom<string | number>(L.DURATION_STRING.test, { error: L.DURATION_STRING.error });
export const confListen = z.custom<string | number>(L.LISTEN.test, { error: L.LISTEN.error });
export const confStringList = z.custom<string | (string | number)[]>(L.STRING_LIST.test, { error: L.STRING_LIST.error });
export const confStorage = z.custom<"file" | "sqlite" | "memory">(L.STORAGE.test, { error: L.STORAGE.error });
export const confSyncInterval = z.custom<number | string>(L.SYNC_INTERVAL.test, { error: L.SYNC_INTERVAL.error });
/** Keys nats-server knows but Petrel does not implement yet: accepted, warned about, ignored. */
export const unsupported = z.unknown().optional();

const opt = <T extends z.ZodType>(t: T) => t.optional();
const block = <S extends z.ZodRawShape>(shape: S, what: string, error = `a map (${what})`) =>
  z.looseObject(shape, { error });

// --- blocks ------------------------------------------------------------------------------------

// A bare subject or list means "allow these" (nats-server); normalized here to the map form.
const subjectPermission = z.preprocess(
  (v) => (typeof v === "string" || Array.isArray(v) ? { allow: v } : v),
  block(
    { allow: opt(confStringList), allows: opt(confStringList), deny: opt(confStringList), denies: opt(confStringList) },
    "{ allow, deny }",
    "a subject, a list of subjects or a map { allow, deny }",
  ),
);

const allowResponses = z.union(
  [
    confBool,
    block(
      {
        max: opt(confInt),
        max_msgs: opt(confInt),
        max_messages: opt(confInt),
        max_responses: opt(confInt),
        expires: opt(confDuration),
        expiration: opt(confDuration),
        ttl: opt(confDuration),
      },
      "{ max, expires }",
    ),
  ],
  { error: "a boolean or a map { max, expires }" },
);

export const permissionsSchema = block(
  {
    publish: opt(subjectPermission),
    pub: opt(subjectPermission),
    import: opt(subjectPermission),
    subscribe: opt(subjectPermission),
    sub: opt(subjectPermission),
    export: opt(subjectPermission),
    allow_responses: opt(allowResponses),
    allow_resp: opt(allowResponses),
  },
  "permissions { publish, subscribe, allow_responses }",
);

export const userSchema = block(
  {
    user: opt(confString),
    username: opt(confString),
    password: opt(confString),
    pass: opt(confString),
    permissions: opt(permissionsSchema),
    permission: opt(permissionsSchema),
    authorization: opt(permissionsSchema),
    nkey: opt(confString),
    account: unsupported,
    allowed_connection_types: unsupported,
    allowed_connection_type: unsupported,
  },
  "a user { user, password, permissions }",
);

export const authorizationSchema = block(
  {
    user: opt(confString),
    username: opt(confString),
    password: opt(confString),
    pass: opt(confString),
    token: opt(confString),
    timeout: opt(confDuration),
    users: opt(z.array(userSchema, { error: "a list of users" })),
    permissions: opt(permissionsSchema),
    default_permissions: opt(permissionsSchema),
    nkeys: unsupported,
    auth_callout: unsupported,
  },
  "authorization { user, password, token, users, timeout }",
);

const routeAuthorizationSchema = block(
  {
    user: opt(confString),
    username: opt(confString),
    password: opt(confString),
    pass: opt(confString),
    token: opt(confString),
    timeout: opt(confDuration),
    users: unsupported,
  },
  "authorization { user, password, token, timeout }",
);

/** `websocket { authorization {} }`: one user or a token for WebSocket clients, as nats-server 2.9 reads it. */
const wsAuthorizationSchema = block(
  {
    user: opt(confString),
    username: opt(confString),
    password: opt(confString),
    pass: opt(confString),
    token: opt(confString),
    timeout: opt(confDuration),
    users: unsupported,
  },
  "authorization { user, password, token, timeout }",
);

const leafUserSchema = block(
  {
    user: opt(confString),
    username: opt(confString),
    password: opt(confString),
    pass: opt(confString),
    account: opt(confString),
  },
  "a leafnode user { user, password, account }",
);

/** `leafnodes { authorization {} }`: who may connect as a leafnode, and the account each is bound to. */
const leafAuthorizationSchema = block(
  {
    user: opt(confString),
    username: opt(confString),
    password: opt(confString),
    pass: opt(confString),
    account: opt(confString),
    timeout: opt(confDuration),
    users: opt(z.array(leafUserSchema, { error: "a list of users" })),
  },
  "authorization { user, password, account, users, timeout }",
);

const listenKeys = {
  listen: opt(confListen),
  host: opt(confString),
  net: opt(confString),
  port: opt(confPort),
};

export const clusterSchema = block(
  {
    ...listenKeys,
    name: opt(confString),
    advertise: opt(confString),
    cluster_advertise: opt(confString),
    no_advertise: opt(confBool),
    routes: opt(confStringList),
    authorization: opt(routeAuthorizationSchema),
    connect_retries: opt(confCount),
    tls: opt(tlsBlockSchema),
    permissions: unsupported,
    pool_size: unsupported,
    compression: unsupported,
    accounts: unsupported,
  },
  "cluster { name, listen, routes, ... }",
);

const gatewayRemote = block(
  { name: opt(confString), url: opt(confString), urls: opt(confStringList), tls: opt(tlsBlockSchema) },
  "a gateway { name, urls }",
);

export const gatewaySchema = block(
  {
    ...listenKeys,
    name: opt(confString),
    advertise: opt(confString),
    gateway_advertise: opt(confString),
    gateways: opt(z.array(gatewayRemote, { error: "a list of gateways" })),
    authorization: opt(routeAuthorizationSchema),
    connect_retries: opt(confCount),
    reject_unknown_cluster: opt(confBool),
    reject_unknown: opt(confBool),
    tls: opt(tlsBlockSchema),
  },
  "gateway { name, listen, gateways }",
);

// `jetstream: enabled`, `jetstream: true` and friends are the short form of `jetstream { enabled: ... }`.
export const jetstreamSchema = z.preprocess(
  L.jetstreamShortForm,
  block(
      {
        enabled: opt(confBool),
        enable: opt(confBool),
        store_dir: opt(confString),
        storedir: opt(confString),
        max_memory_store: opt(confSizeOrUnlimited),
        max_mem_store: opt(confSizeOrUnlimited),
        max_mem: opt(confSizeOrUnlimited),
        max_file_store: opt(confSizeOrUnlimited),
        max_file: opt(confSizeOrUnlimited),
        domain: opt(confString),
        sync_interval: opt(confSyncInterval),
        storage: opt(confStorage),
        unique_tag: unsupported,
        max_outstanding_catchup: unsupported,
        max_buffered_size: unsupported,
        max_buffered_msgs: unsupported,
        request_queue_limit: unsupported,
        key: unsupported,
        ek: unsupported,
        cipher: unsupported,
        limits: unsupported,
        compress_ok: unsupported,
        extension_hint: unsupported,
      },
    "jetstream { store_dir, max_memory_store, max_file_store, domain }",
    'a map, a boolean, "enabled" or "disabled"',
  ),
);

// --- accounts ----------------------------------------------------------------------------------

const RESPONSE_TYPE_WORDS = new Set(["single", "singleton", "stream", "chunk", "chunked"]);

export const confResponseType = z.custom<string>(
  (v) => typeof v === "string" && RESPONSE_TYPE_WORDS.has(v.toLowerCase()),
  { error: 'a response type ("singleton", "stream" or "chunked")' },
);
/** A Go duration string only, as nats-server requires for response thresholds. */
export const confGoDuration = z.custom<string>(
  (v) => typeof v === "string" && (parseGoDuration(v) ?? -1) >= 0,
  { error: 'a duration string (e.g. "2s")' },
);
const confSubject = z.custom<string>((v) => typeof v === "string" && v !== "", { error: "a subject" });
const confName = z.custom<string | number>(
  (v) => (typeof v === "string" && v !== "") || (typeof v === "number" && Number.isFinite(v)),
  { error: "an account name" },
);
/** JetStream limits are plain numbers (sizes with suffixes), as nats-server reads them. */
const confLimit = z.custom<number | string>((v) => toBytes(v) !== undefined, { error: "a number or a size (e.g. 1G)" });

const accountExportEntry = block(
  {
    stream: opt(confSubject),
    service: opt(confSubject),
    accounts: opt(z.array(confName, { error: "a list of account names" })),
    response_type: opt(confResponseType),
    response: opt(confResponseType),
    response_threshold: opt(confGoDuration),
    threshold: opt(confGoDuration),
    response_max_time: opt(confGoDuration),
    response_time: opt(confGoDuration),
  },
  "an export { stream | service, accounts, response_type }",
);

const importSourceSchema = block(
  { account: opt(confName), subject: opt(confSubject) },
  "{ account, subject }",
  "an account map { account, subject }",
);

const accountImportEntry = block(
  {
    stream: opt(importSourceSchema),
    service: opt(importSourceSchema),
    prefix: opt(confSubject),
    to: opt(confSubject),
  },
  "an import { stream | service: { account, subject }, prefix, to }",
);

const ACCOUNT_JS_WORDS: Record<string, boolean> = { enabled: true, enable: true, disabled: false, disable: false };

// `jetstream: enabled | disabled | true | false | { limits }` inside an account.
export const accountJetStreamSchema = z.preprocess(
  (v) => {
    if (typeof v === "boolean") return { enabled: v };
    if (typeof v === "string" && Object.hasOwn(ACCOUNT_JS_WORDS, v.toLowerCase())) {
      return { enabled: ACCOUNT_JS_WORDS[v.toLowerCase()] };
    }
    return v;
  },
  block(
    {
      enabled: opt(confBool),
      max_memory: opt(confLimit),
      max_mem: opt(confLimit),
      mem: opt(confLimit),
      memory: opt(confLimit),
      max_store: opt(confLimit),
      max_file: opt(confLimit),
      max_disk: opt(confLimit),
      store: opt(confLimit),
      disk: opt(confLimit),
      max_streams: opt(confLimit),
      streams: opt(confLimit),
      max_consumers: opt(confLimit),
      consumers: opt(confLimit),
    },
    "jetstream { max_mem, max_file, max_streams, max_consumers }",
    '"enabled", "disabled", a boolean or a map { max_mem, max_file, max_streams, max_consumers }',
  ),
);

export const accountSchema = block(
  {
    users: opt(z.array(userSchema, { error: "a list of users" })),
    exports: opt(z.array(accountExportEntry, { error: "a list of exports" })),
    imports: opt(z.array(accountImportEntry, { error: "a list of imports" })),
    jetstream: opt(accountJetStreamSchema),
    default_permissions: opt(permissionsSchema),
  },
  "an account { users, exports, imports, jetstream }",
);

// `accounts: [A, B]` (names only) is the short form of `accounts { A: {}, B: {} }`. Duplicate names in the
// list form are reported by accounts.ts before this runs.
export const accountsSchema = z.preprocess(
  (v) =>
    Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "number")
      ? Object.fromEntries(v.map((x) => [String(x), {}]))
      : v,
  z.record(z.string(), accountSchema, { error: "a map of accounts { NAME: { users, exports, imports } } or a list of names" }),
);

export const websocketSchema = block(
  {
    ...listenKeys,
    advertise: opt(confString),
    no_tls: opt(confBool),
    same_origin: opt(confBool),
    allowed_origins: opt(confStringList),
    allowed_origin: opt(confStringList),
    compression: opt(confBool),
    handshake_timeout: opt(confDuration),
    tls: opt(tlsBlockSchema),
    no_auth_user: opt(confString),
    authorization: opt(wsAuthorizationSchema),
    jwt_cookie: unsupported,
  },
  "websocket { listen, no_tls, same_origin, allowed_origins, compression, authorization, no_auth_user }",
);

const leafRemote = block(
  {
    url: opt(confString),
    urls: opt(confStringList),
    account: opt(confString),
    local: opt(confString),
    credentials: opt(confString),
    creds: opt(confString),
    tls: opt(tlsBlockSchema),
    hub: unsupported,
    deny_imports: unsupported,
    deny_exports: unsupported,
    ws_compression: unsupported,
    ws_no_masking: unsupported,
  },
  "a remote { urls, account, credentials }",
);

export const leafnodesSchema = block(
  {
    ...listenKeys,
    advertise: opt(confString),
    no_advertise: opt(confBool),
    remotes: opt(z.array(leafRemote, { error: "a list of remotes" })),
    authorization: opt(leafAuthorizationSchema),
    tls: opt(tlsBlockSchema),
    reconnect: unsupported,
    reconnect_delay: unsupported,
    min_version: unsupported,
    compression: unsupported,
  },
  "leafnodes { listen, remotes }",
);

export const rawConfigSchema = block(
  {
    ...listenKeys,
    server_name: opt(confString),
    client_advertise: opt(confString),
    http: opt(confListen),
    http_port: opt(confPort),
    monitor_port: opt(confPort),
    max_payload: opt(confSize),
    max_pending: opt(confSize),
    max_control_line: opt(confSize),
    max_connections: opt(confCount),
    max_conn: opt(confCount),
    max_subscriptions: opt(confCount),
    max_subs: opt(confCount),
    ping_interval: opt(confDuration),
    ping_max: opt(confCount),
    write_deadline: opt(confDuration),
    lame_duck_duration: opt(confDurationString),
    lame_duck_grace_period: opt(confDurationString),
    debug: opt(confBool),
    trace: opt(confBool),
    trace_verbose: opt(confBool),
    logtime: opt(confBool),
    log_file: opt(confString),
    logfile: opt(confString),
    pid_file: opt(confString),
    pidfile: opt(confString),
    ports_file_dir: opt(confString),
    no_auth_user: opt(confString),
    store_dir: opt(confString),
    storedir: opt(confString),
    authorization: opt(authorizationSchema),
    cluster: opt(clusterSchema),
    gateway: opt(gatewaySchema),
    jetstream: opt(jetstreamSchema),
    streaming: opt(streamingSchema),
    websocket: opt(websocketSchema),
    ws: opt(websocketSchema),
    leafnodes: opt(leafnodesSchema),
    leaf: opt(leafnodesSchema),
    accounts: opt(accountsSchema),
    system_account: opt(confName),
    system: opt(confName),
    // Known to nats-server, not implemented by Petrel yet.
    no_system_account: unsupported,
    mappings: unsupported,
    maps: unsupported,
    tls: opt(tlsBlockSchema),
    allow_non_tls: unsupported,
    https: opt(confListen),
    https_port: opt(confPort),
    http_base_path: unsupported,
    mqtt: unsupported,
    operator: opt(confStringList),
    operators: opt(confStringList),
    trusted: unsupported,
    trusted_keys: unsupported,
    resolver: opt(z.custom<string | Record<string, unknown>>(
      (v) => typeof v === "string" || (typeof v === "object" && v !== null && !Array.isArray(v)),
      { error: "MEMORY, or a map { type, dir }" },
    )),
    resolver_preload: opt(z.record(z.string(), confString, { error: "a map of account public keys to account JWTs" })),
    resolver_tls: unsupported,
    ocsp: unsupported,
    syslog: unsupported,
    remote_syslog: unsupported,
    logtime_utc: unsupported,
    logfile_size_limit: unsupported,
    log_size_limit: unsupported,
    max_traced_msg_len: unsupported,
    max_sub_tokens: unsupported,
    disable_sublist_cache: unsupported,
    no_sublist_cache: unsupported,
    prof_port: unsupported,
    server_tags: opt(confStringList),
    default_js_domain: unsupported,
    connect_error_reports: unsupported,
    reconnect_error_reports: unsupported,
    max_closed_clients: unsupported,
    no_header_support: unsupported,
  },
  "the configuration",
);

export type RawConfig = z.output<typeof rawConfigSchema>;

// The normalized options live in server_options.ts; re-exported so callers import one module.
export type {
  AuthorizationOptions,
  ClusterOptions,
  GatewayOptions,
  JetStreamOptions,
  LeafNodeOptions,
  Permissions,
  RouteAuthorization,
  ServerOptions,
  SubjectPermission,
  UserEntry,
  WebSocketOptions,
} from "./server_options.ts";

/** nats-server 2.9 defaults: in defaults.ts, which loads without zod (the plain start-up path needs no schema). */
export { DEFAULTS } from "./defaults.ts";
