/**
 * The leafnode manager: the listener hubs accept leafnodes on, the remotes a leaf dials (each retried for
 * as long as the server runs, rotating through its URLs), and the interest each connection is told of:
 * every subscription on this server except the connection's own, other clusters' (gateways') and
 * server-local ones, a subject once, a queue group with its weight.
 */
import type { LeafNodeOptions } from "../config/server_options.ts";
import type { Logger } from "../log/logger.ts";
import { PETREL_VERSION, type Server, VERSION } from "../server/server.ts";
import type { Subscription } from "../server/types.ts";
import type { Account } from "../accounts/account.ts";
import type { Duplex, Listener, TlsSettings, Transport } from "../transport/types.ts";
import type { TlsConfig } from "../tls/config.ts";
import { upgradeToTls } from "../tls/upgrade.ts";
import { joinHostPort, reachableHost } from "../cluster/urls.ts";
import { LeafConn } from "./conn.ts";
import { Redial, type RedialPolicy } from "../server/redial.ts";
import { LDS_PREFIX, type LeafConnect, type LeafInfo } from "./protocol.ts";
import { secretMatches } from "../server/auth.ts";
import { randomToken } from "../server/ids.ts";
import { parseCredentials, signNonce } from "./credentials.ts";
import type { LeafHost, LeafInterest } from "./types.ts";

const DEFAULT_LEAF_PORT = 7422;
/** nats-server's default leafnode reconnect interval. */
const RECONNECT_MS = 1000;
/** nats-server's delay before dialing again a remote that closed a cycle. */
const RECONNECT_AFTER_LOOP_MS = 30_000;
const LEAF_REDIAL: RedialPolicy = { minMs: RECONNECT_MS, maxMs: RECONNECT_MS };

export interface LeafUrl {
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** tls:// : the leaf does TLS even when the hub's INFO does not ask for it. */
  tls?: boolean;
}

/** nats://, nats-leaf:// or tls:// URLs, or bare host:port; the port defaults to 7422. */
export function parseLeafUrl(text: string): LeafUrl | undefined {
  const raw = text.trim();
  let u: URL;
  try {
    u = new URL(raw.includes("://") ? raw.replace(/^[a-z-]+:\/\//i, "nats://") : `nats://${raw}`);
  } catch {
    return undefined;
  }
  let host = u.hostname;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host === "") return undefined;
  const port = u.port === "" ? DEFAULT_LEAF_PORT : Number(u.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  const out: LeafUrl = { host, port };
  if (u.username !== "") out.user = decodeURIComponent(u.username);
  if (u.password !== "") out.password = decodeURIComponent(u.password);
  if (/^tls:\/\//i.test(raw)) out.tls = true;
  return out;
}

interface Remote {
  urls: LeafUrl[];
  /** The remote's `tls {}` block (its settings per host are made at dial time). */
  tlsConfig?: TlsConfig;
  /** Where the remote sits in the configuration, for messages ("leafnodes.remotes[0].tls"). */
  what: string;
  /** The local account the link carries (`account` / `local`, `$G` by default). */
  account: Account;
  /** A credentials file (user JWT and nkey seed) to sign in to the hub with. */
  credentials?: string;
  next: number;
  conn?: LeafConn;
  /** Its dial timer (see Redial); leafnodes redial at a fixed interval, as nats-server does. */
  readonly redial: Redial;
}

export interface LeafNodeDeps {
  transport: Transport;
  logger: Logger;
  /** Reads a remote's credentials file. */
  readFile?: (path: string) => string | undefined;
}

export class LeafNodes implements LeafHost {
  readonly server: Server;
  readonly logger: Logger;
  readonly options: LeafNodeOptions;
  readonly ldsSubject: string;
  readonly #transport: Transport;
  #listener: Listener | undefined;
  /** Live connections, in handshake or active. */
  readonly conns = new Set<LeafConn>();
  readonly #remotes: Remote[] = [];
  readonly #dials = new Set<Promise<unknown>>();
  #nextLid = 1;
  #stopped = false;
  /** The hub listener's TLS (leafnodes { tls {} }): plain INFO, then the leaf upgrades. */
  #listenerTls: TlsSettings | undefined;
  readonly #clientTls = new Map<string, TlsSettings>();
  readonly #onSub = (sub: Subscription, added: boolean, account: Account) => this.#interestChanged(sub, added, account);
  readonly #readFile: ((path: string) => string | undefined) | undefined;

  constructor(server: Server, options: LeafNodeOptions, deps: LeafNodeDeps) {
    this.server = server;
    this.options = options;
    this.logger = deps.logger;
    this.#transport = deps.transport;
    this.#readFile = deps.readFile;
    for (const u of options.authorization?.users ?? []) this.#accountNamed(u.account, "leafnodes.authorization.users");
    this.#accountNamed(options.authorization?.account, "leafnodes.authorization.account");
    // One per server (not per manager), so that every link of this server recognises it.
    this.ldsSubject = `${LDS_PREFIX}${server.serverId}`;
    options.remotes.forEach((r, i) => {
      const account = this.#accountNamed(r.account, `leafnodes.remotes[${i}].account`);
      const urls: LeafUrl[] = [];
      for (const text of r.urls) {
        const u = parseLeafUrl(text);
        if (u === undefined) this.logger.error(`Error parsing leafnode remote URL ${JSON.stringify(text)}, ignoring it`);
        else urls.push(u);
      }
      if (urls.length === 0) return;
      const remote: Remote = {
        urls,
        account,
        credentials: r.credentials,
        next: 0,
        tlsConfig: r.tls,
        what: `leafnodes.remotes[${i}].tls`,
        redial: new Redial(() => this.#dial(remote), LEAF_REDIAL),
      };
      this.#remotes.push(remote);
    });
  }

  /** The account a leafnode setting names (`$G` when none); an account the server lacks stops start-up. */
  #accountNamed(name: string | undefined, key: string): Account {
    if (name === undefined) return this.server.accounts.global;
    const a = this.server.accounts.get(name);
    if (a === undefined) throw new Error(`${key}: account ${JSON.stringify(name)} is not defined`);
    return a;
  }

  get port(): number {
    return this.#listener?.port ?? 0;
  }

  /** host:port leaves dial, as in the ports file and leafnode_urls. */
  get url(): string | undefined {
    if (this.#listener === undefined) return undefined;
    return joinHostPort(reachableHost(this.#listener.host), this.#listener.port);
  }

  /** Active connections (handshake done). */
  get active(): LeafConn[] {
    return [...this.conns].filter((c) => c.state === "active");
  }

  /** Each remote's pending redial delay in ms, in configuration order (undefined: none pending). */
  get redialDelays(): (number | undefined)[] {
    return this.#remotes.map((r) => r.redial.delayMs);
  }

  async start(): Promise<void> {
    const o = this.options;
    // Read and check every certificate before listening or dialing: a bad file stops start-up.
    this.#listenerTls = this.server.prepareTls("leafnodes.tls", o.tls, "server");
    for (const r of this.#remotes) {
      for (const u of r.urls) if (r.tlsConfig !== undefined) this.#clientSettings(r, u.host);
    }
    if (o.port !== 0) {
      const port = o.port < 0 ? 0 : o.port;
      this.#listener = await this.#transport.listen({ host: o.host, port }, (d) => this.#accept(d));
      this.logger.info(`Listening for leafnode connections on ${joinHostPort(this.#listener.host, this.#listener.port)}`);
    }
    this.server.exportListeners.add(this.#onSub);
    for (const r of this.#remotes) this.#schedule(r, 0);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.server.exportListeners.delete(this.#onSub);
    for (const r of this.#remotes) r.redial.stop();
    const l = this.#listener;
    this.#listener = undefined;
    if (l !== undefined) await l.close().catch(() => {});
    for (const c of [...this.conns]) c.close("Server Shutdown");
    if (this.#dials.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const limit = new Promise<void>((r) => (timer = setTimeout(r, 1000)));
      await Promise.race([Promise.allSettled([...this.#dials]), limit]);
      clearTimeout(timer);
    }
  }

  // ---- connections ----

  #accept(duplex: Duplex): LeafConn {
    const c = new LeafConn(this.#nextLid++, duplex, this, false, this.server.accounts.global);
    this.conns.add(c);
    if (this.#stopped) {
      queueMicrotask(() => c.close("Server Shutdown"));
      return c;
    }
    this.logger.info(`${c.wire.label()} - Leafnode connection created`);
    c.begin();
    const tls = this.#listenerTls;
    if (tls !== undefined) {
      this.logger.debug(`${c.wire.label()} - Starting TLS leafnode server handshake`);
      c.wire.flush(); // the INFO goes out in the clear first
      upgradeToTls(duplex, tls, this.options.tls?.timeout ?? 0, {
        onSecure: () => {},
        onFailure: (reason) => {
          this.logger.error(`${c.wire.label()} - TLS leafnode handshake error: ${reason}`);
          c.close("TLS Handshake Failure");
        },
      });
    }
    return c;
  }

  #clientSettings(r: Remote, host: string): TlsSettings | undefined {
    if (r.tlsConfig === undefined) return undefined;
    const key = `${r.what}|${host}`;
    let s = this.#clientTls.get(key);
    if (s === undefined) {
      s = this.server.prepareTls(r.what, r.tlsConfig, "client", host);
      if (s === undefined) return undefined;
      this.#clientTls.set(key, s);
    }
    return s;
  }

  /**
   * The leaf side, on the hub's INFO: upgrade before CONNECT when the hub requires TLS, the remote has a
   * `tls {}` block, or its URL is tls://. Without a block the runtime's default roots verify the hub. Returns
   * false when the connection cannot go on (it is being closed).
   */
  startLeafTls(c: LeafConn, hubRequires: boolean): boolean {
    const link = remoteOf.get(c);
    if (link === undefined) return true;
    const wanted = hubRequires || link.url.tls === true || link.remote.tlsConfig !== undefined;
    if (!wanted) return true;
    let settings: TlsSettings | undefined;
    try {
      settings = this.#clientSettings(link.remote, link.url.host) ??
        { role: "client", verify: true, serverName: link.url.host };
    } catch (e) {
      this.logger.error(`${c.wire.label()} - ${e instanceof Error ? e.message : String(e)}`);
      c.close("TLS Handshake Failure");
      return false;
    }
    this.logger.debug(`${c.wire.label()} - Starting TLS leafnode client handshake`);
    upgradeToTls(c.duplex, settings, link.remote.tlsConfig?.timeout ?? 2000, {
      onSecure: () => {},
      onFailure: (reason) => {
        this.logger.error(`${c.wire.label()} - TLS leafnode handshake error: ${reason}`);
        c.close("TLS Handshake Failure");
      },
    });
    return true;
  }

  #schedule(r: Remote, delayMs: number): void {
    if (this.#stopped) return;
    r.redial.schedule(delayMs);
  }

  #dial(r: Remote): void {
    if (this.#stopped) return;
    const url = r.urls[r.next];
    r.next = (r.next + 1) % r.urls.length;
    const dialing = this.#transport.dial({ host: url.host, port: url.port }, (d) => {
      const c = new LeafConn(this.#nextLid++, d, this, true, r.account);
      r.conn = c;
      this.conns.add(c);
      remoteOf.set(c, { remote: r, url });
      if (this.#stopped) queueMicrotask(() => c.close("Server Shutdown"));
      else {
        this.logger.info(`${c.wire.label()} - Leafnode connection created`);
        c.begin();
      }
      return c;
    });
    this.#dials.add(dialing);
    const done = () => this.#dials.delete(dialing);
    dialing.then(done, () => {
      done();
      this.logger.debug(`Error trying to connect as leafnode to remote server ${joinHostPort(url.host, url.port)}`);
      this.#schedule(r, RECONNECT_MS);
    });
  }

  // ---- LeafHost ----

  infoJson(c: LeafConn, connected = false): string {
    const o = this.options;
    const info: Record<string, unknown> = {
      server_id: this.server.serverId,
      server_name: this.server.serverName,
      version: VERSION,
      proto: 1,
      go: `petrel${PETREL_VERSION}`,
      host: o.host,
      port: this.port,
      headers: true,
    };
    if (this.#listenerTls !== undefined) {
      info.tls_required = true;
      if (this.options.tls?.verify === true) info.tls_verify = true;
    }
    Object.assign(info, {
      max_payload: this.server.options.max_payload,
      ip: c.duplex.info.localHost,
      client_id: c.cid,
      info_on_connect: true,
    });
    const url = o.advertise ?? this.url;
    if (!o.no_advertise && url !== undefined) info.leafnode_urls = [url];
    const cluster = this.server.infoExtras.cluster;
    if (typeof cluster === "string") info.cluster = cluster;
    if (!c.solicited && this.#authRequired()) info.auth_required = true;
    // Operator mode (or nkey users): the leaf proves its key by signing this nonce.
    if (!c.solicited && this.server.wantsNonce) {
      c.nonce ??= randomToken(22);
      info.nonce = c.nonce;
    }
    if (connected) {
      info.connect_info = true;
      info.remote_account = c.account.name;
    }
    return JSON.stringify(info);
  }

  connectJson(conn: LeafConn, info: LeafInfo): string {
    const c: Record<string, unknown> = {
      version: VERSION,
      tls_required: false,
      server_id: this.server.serverId,
      name: this.server.serverName,
      headers: true,
    };
    const cluster = this.server.infoExtras.cluster;
    c.cluster = typeof cluster === "string" ? cluster : this.server.serverName;
    const link = remoteOf.get(conn);
    if (link?.url.user !== undefined) {
      c.user = link.url.user;
      if (link.url.password !== undefined) c.pass = link.url.password;
    }
    const creds = link?.remote.credentials;
    if (creds !== undefined) Object.assign(c, this.#signIn(creds, info.nonce));
    return JSON.stringify(c);
  }

  /**
   * `jwt` and `sig` (the hub's nonce signed with the seed) from a credentials file. A file that cannot be
   * read is logged and nothing is presented: the hub refuses the link, and the remote keeps retrying.
   */
  #signIn(path: string, nonce: string | undefined): { jwt?: string; sig?: string } {
    const text = this.#readFile?.(path);
    const creds = text === undefined ? undefined : parseCredentials(text);
    if (creds === undefined) {
      this.logger.error(`Leafnode remote credentials ${JSON.stringify(path)}: no user JWT and seed could be read`);
      return {};
    }
    if (nonce === undefined) return { jwt: creds.jwt };
    return { jwt: creds.jwt, sig: signNonce(creds.seed, nonce) };
  }

  /** Does a leaf have to authenticate (leafnode users, or the server's own users)? */
  #authRequired(): boolean {
    const a = this.options.authorization;
    return (a !== undefined && (a.user !== undefined || a.users.length > 0)) || this.server.authRequired;
  }

  /**
   * The account a leaf's CONNECT binds its link to, or undefined to refuse it. `leafnodes { authorization }`
   * decides when it names users; otherwise a leaf signs in as one of the server's users (its account), and
   * a server without users takes leafs into `$G`, as nats-server 2.9 does.
   */
  authorize(c: LeafConn, connect: LeafConnect): Account | undefined {
    const a = this.options.authorization;
    if (a !== undefined && (a.user !== undefined || a.users.length > 0)) {
      if (a.user !== undefined && connect.user === a.user && a.password !== undefined && secretMatches(a.password, connect.pass)) {
        return this.#accountNamed(a.account, "leafnodes.authorization.account");
      }
      const u = a.users.find((x) => x.user === connect.user);
      if (u === undefined || connect.user === undefined) return undefined;
      if (u.password !== undefined && !secretMatches(u.password, connect.pass)) return undefined;
      return this.#accountNamed(u.account, "leafnodes.authorization.users");
    }
    if (!this.server.authRequired) return this.server.accounts.global;
    const creds = { user: connect.user, pass: connect.pass, auth_token: connect.auth_token, jwt: connect.jwt, sig: connect.sig };
    const out = this.server.authenticate(creds, c.nonce);
    return out.ok ? this.server.accountFor(out.account) : undefined;
  }

  register(c: LeafConn): boolean {
    if (this.#stopped) {
      c.close("Server Shutdown");
      return false;
    }
    if (c.remoteId === this.server.serverId) {
      this.logger.error(`${c.wire.label()} - Leafnode connection to self, closing`);
      c.close("Duplicate Server ID");
      return false;
    }
    this.logger.info(`${c.wire.label()} - Leafnode connection ${c.solicited ? "to hub" : "from leaf"} ${c.remoteName} registered`);
    return true;
  }

  interestFor(c: LeafConn): LeafInterest[] {
    const m = new Map<string, LeafInterest>();
    for (const sub of c.account.sublist.all()) {
      if (!counts(sub, c)) continue;
      const key = keyOf(sub);
      const e = m.get(key);
      if (e !== undefined) e.count++;
      else m.set(key, { subject: sub.subject, queue: sub.queue, count: 1 });
    }
    return [...m.values()];
  }

  leafClosed(c: LeafConn): void {
    if (!this.conns.delete(c)) return;
    this.logger.info(`${c.wire.label()} - Leafnode connection closed: ${c.wire.closeReason}`);
    const link = remoteOf.get(c);
    if (link !== undefined && link.remote.conn === c) {
      link.remote.conn = undefined;
      this.#schedule(link.remote, c.loopDetected ? RECONNECT_AFTER_LOOP_MS : RECONNECT_MS);
    }
  }

  #interestChanged(sub: Subscription, added: boolean, account: Account): void {
    for (const c of this.conns) {
      if (c.state !== "active" || c.account !== account || !counts(sub, c)) continue;
      const key = keyOf(sub);
      let e = c.announced.get(key);
      if (added) {
        if (e === undefined) {
          e = { subject: sub.subject, queue: sub.queue, count: 0 };
          c.announced.set(key, e);
        }
        e.count++;
        if (e.count === 1 || e.queue !== undefined) c.sendInterest(true, e.subject, e.queue, e.count);
        continue;
      }
      if (e === undefined) continue;
      e.count--;
      if (e.count <= 0) {
        c.announced.delete(key);
        c.sendInterest(false, e.subject, e.queue, 0);
      } else if (e.queue !== undefined) {
        c.sendInterest(true, e.subject, e.queue, e.count);
      }
    }
  }
}

const remoteOf = new WeakMap<LeafConn, { remote: Remote; url: LeafUrl }>();

function keyOf(sub: Subscription): string {
  return sub.queue === undefined ? sub.subject : `${sub.subject} ${sub.queue}`;
}

/** Is `sub` interest that leafnode connection `c` must hear of? */
function counts(sub: Subscription, c: LeafConn): boolean {
  if (sub.owner === c || sub.local === true) return false;
  // A loop-detection subject the peer announced itself is never echoed back to it: that would make the peer
  // see a cycle through a second link that merely brought the subject here again.
  if (sub.subject.startsWith(LDS_PREFIX) && sub.owner.kind === "leaf" && c.announcedLds(sub.subject)) return false;
  // In a JetStream domain of its own, this server's `$JS.API` is not offered to the other side (nats-server denies it).
  if (sub.subject.startsWith("$JS.API.") && c.keepsJsApi()) return false;
  // Other clusters' interest stays behind the gateway, as in nats-server.
  const kind = sub.owner.kind;
  if (kind === "gateway") return false;
  // A spoke (this server dialed the hub) tells the hub of its own clients and of the leafnodes hanging off it
  // only: every server of a leaf cluster links to the hub itself, so its routes' interest is told by them.
  if (c.solicited) return kind === "client" || kind === "internal" || (kind === "leaf" && sub.owner.spoke !== true);
  return true;
}
