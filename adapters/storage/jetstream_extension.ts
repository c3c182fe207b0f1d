/**
 * JetStream as a Petrel extension: opens the configured store, wires the engine to the server through an
 * internal client, and registers the monitoring sections (/jsz, /varz jetstream).
 * Lives in adapters/ because it opens runtime storage (filesystem, SQLite).
 */
import type { JetStreamOptions } from "../../src/config/schema.ts";
import { type AccountBus, JetStreamAccounts, planAccounts } from "../../src/jetstream/accounts.ts";
import type { JetStreamCluster } from "../../src/jetstream/cluster/controller.ts";
import type { JetStream } from "../../src/jetstream/engine.ts";
import { jsz, jszQuery, varzJetStream } from "../../src/jetstream/jsz.ts";
import type { PetrelExtension, StopOptions } from "../../src/petrel.ts";
import type { Server, SubscriptionListener } from "../../src/server/server.ts";
import { openAccountStores } from "./index.ts";
import { joinPath, tmpDir } from "./store_fs.ts";
import { loadJsSchemas } from "../../src/jetstream/schemas_on_demand.ts";

const enc = new TextEncoder();

/** A delivery's ack reply as bytes: ASCII (nearly always) copied in a loop, cheaper than an encoder call. */
function replyBytes(s: string): Uint8Array {
  const n = s.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return enc.encode(s);
    out[i] = c;
  }
  return out;
}

/**
 * The bytes of a stored message's subject as deliveries show it, kept for the last few subjects: a consumer
 * walking a stream meets the same subjects again and again (the bytes are only read, never written).
 */
const shownBytes = new Map<string, Uint8Array>();
function subjectBytes(s: string): Uint8Array {
  let b = shownBytes.get(s);
  if (b === undefined) {
    if (shownBytes.size >= 256) shownBytes.clear();
    b = enc.encode(s);
    shownBytes.set(s, b);
  }
  return b;
}

export interface JetStreamHandle {
  engine: JetStream;
}

/** nats-server's default store directory when none is configured. */
export function defaultStoreDir(): string {
  return joinPath(tmpDir(), "nats", "jetstream");
}

/**
 * The bus of one account's engine: an internal client bound to the account. A single server's JetStream keeps
 * its subscriptions to itself (`local`); replicated JetStream announces them to routes, so every server hears
 * every API request and stream message and the right leader answers.
 */
function accountBus(server: Server, account: string, clustered = false): AccountBus {
  const client = server.createInternalClient(account === "$G" ? "$JS" : `$JS ${account}`, { local: !clustered, account });
  const listeners: SubscriptionListener[] = [];
  /** Subjects of the engine's own subscriptions that are a listener all the same (a mirror's feed), by sid. */
  const feeds = new Map<number, string>();
  const feedCount = new Map<string, number>();
  return {
    subscribe: (s, h, o) => {
      const sid = client.subscribe(s, h, o);
      if (o?.interest === true) {
        feeds.set(sid, s);
        feedCount.set(s, (feedCount.get(s) ?? 0) + 1);
      }
      return sid;
    },
    unsubscribe: (sid) => {
      const s = feeds.get(sid);
      if (s !== undefined) {
        feeds.delete(sid);
        const n = (feedCount.get(s) ?? 1) - 1;
        if (n > 0) feedCount.set(s, n);
        else feedCount.delete(s);
      }
      client.unsubscribe(sid);
    },
    publish: (s, p, o) => {
      if (o?.deliverTo === undefined) {
        client.publish(s, p, o);
        return;
      }
      // Route by the delivery subject, show the stored subject (what nats-server does for JS deliveries).
      let body = p;
      let hdrSize = -1;
      if (o.headers !== undefined && o.headers.length > 0) {
        hdrSize = o.headers.length;
        body = new Uint8Array(hdrSize + p.length);
        body.set(o.headers, 0);
        body.set(p, hdrSize);
      }
      client.account.deliver({
        subject: o.deliverTo,
        subjectBytes: subjectBytes(s),
        reply: o.reply ? replyBytes(o.reply) : null,
        hdrSize,
        payload: body,
        // Routes, gateways and leafnodes carry it in nats-server's form (src/cluster/js_delivery.ts).
        deliverReply: undefined,
      }, client);
    },
    holdPublisher: (consumer) => {
      const p = server.currentProducer;
      if (p !== undefined && p.link !== true) p.stallFor(consumer);
    },
    afterInterestSpread: (done, cluster) => {
      // Only another cluster can see a delivery before this cluster's interest (see cluster/read_barrier.ts):
      // within one cluster a route carries the RS+ ahead of what follows it, unless what follows reaches a
      // third server another way (a requester publishing through it once answered).
      const barrier = server.afterRoutesRead;
      if (barrier === undefined || (!cluster && server.options.gateway === undefined)) done();
      else barrier(done);
    },
    onSubscribe: (fn) => {
      // Accounts that import streams from this one: their subscriptions may be interest in our deliveries.
      // Recomputed when a reload replaced the options.
      let seen: object | undefined;
      let importers = new Set<string>();
      const importsFromUs = (name: string): boolean => {
        if (seen !== server.options) {
          seen = server.options;
          importers = new Set();
          for (const [n, a] of Object.entries(server.options.accounts ?? {})) {
            if ((a.imports ?? []).some((i) => i.stream?.account === account)) importers.add(n);
          }
        }
        return importers.has(name);
      };
      const l: SubscriptionListener = (sub, added, acc) => {
        if (!added || sub.owner === client) return;
        if (acc === client.account) fn(sub.subject);
        else if (importsFromUs(acc.name)) fn(undefined);
      };
      listeners.push(l);
      server.subscriptionListeners.add(l);
    },
    routeInterest: (s) => {
      const r = client.account.sublist.match(s);
      for (const sub of r.psubs) if (sub.owner.kind === "route") return true;
      for (const g of r.qsubs) for (const sub of g) if (sub.owner.kind === "route") return true;
      return false;
    },
    hasInterest: (s) => {
      if (feedCount.has(s)) return true;
      // A stream import's subscription is interest only while the importing account listens.
      // JetStream's own subscriptions (a stream capturing `*`, say) are nobody listening, as in nats-server.
      const r = client.account.sublist.match(s);
      for (const sub of r.psubs) if (sub.owner !== client && (sub.owner.importInterest?.(s) ?? true)) return true;
      for (const g of r.qsubs) {
        for (const sub of g) if (sub.owner !== client && (sub.owner.importInterest?.(s) ?? true)) return true;
      }
      return false;
    },
    close: () => {
      for (const l of listeners) server.subscriptionListeners.delete(l);
      client.close();
    },
  };
}

/**
 * JetStream for every account that has it (`$G` alone without an accounts block). `onStart` gets `$G`'s engine
 * when `$G` has JetStream, and the per-account registry.
 */
export function jetStreamExtension(
  opts: JetStreamOptions,
  onStart?: (js: JetStream | undefined, all: JetStreamAccounts) => void,
): PetrelExtension {
  return {
    name: "jetstream",
    async start(server: Server) {
      const clustered = server.options.cluster !== undefined && server.options.cluster.port !== 0;
      if (clustered) {
        // nats-server's start-up errors, in its order.
        if (!server.options.server_name) throw new Error("jetstream cluster requires `server_name` to be set");
        if (!server.options.cluster?.name) throw new Error("jetstream cluster requires `cluster.name` to be set");
      }
      const storeDir = opts.store_dir || defaultStoreDir();
      const kind = opts.storage ?? "file";
      const stores = await openAccountStores({ kind, storeDir, sync: opts.sync_interval });
      // Replicated JetStream's code (its controller, Raft and Raft's storage: ~2.4 MB resident on Bun and Deno) is
      // loaded only by a server that runs in a cluster.
      const clusterStart = clustered ? await import("./jetstream_cluster_start.ts") : undefined;
      // Replicated JetStream covers every JetStream-enabled account: one meta group and one Raft host per
      // server, each account's engine plugged in with its account. Raft traffic and peer discovery travel in the
      // system account, out of every client account's reach.
      let cluster: JetStreamCluster | undefined;
      let nrg: ReturnType<Server["createInternalClient"]> | undefined;
      const all: JetStreamAccounts = new JetStreamAccounts({
        busFor: (account, o) => accountBus(server, account, clustered && o?.local !== true),
        storageFor: (account) => stores.forAccount(account),
        prepare: (account, engine) => {
          if (!clustered) return;
          if (!cluster) {
            if (clusterStart === undefined) throw new Error("bug: JetStream cluster code not loaded");
            nrg = server.createInternalClient("$NRG", { account: server.accounts.system.name });
            cluster = clusterStart.startCluster(server, all.engines, nrg, joinPath(storeDir, "jetstream", "_raft"), kind, opts.sync_interval, {
              // A supercluster's meta group spans every cluster: the other clusters' gateway URLs count too, so
              // one cluster alone (a minority) never founds a meta group of its own before the gateways are up.
              expected: expectedPeers(server.options.cluster?.routes ?? [], server.options.cluster?.port) +
                gatewayPeers(server.options.gateway),
              cluster: expectedPeers(server.options.cluster?.routes ?? [], server.options.cluster?.port),
            });
          }
          engine.cluster = cluster.forAccount(account);
        },
      }, {
        server_name: server.serverName,
        server_id: server.serverId,
        domain: opts.domain,
        // Reported like nats-server does: the directory JetStream writes into.
        store_dir: joinPath(storeDir, "jetstream"),
        max_memory_store: opts.max_memory_store,
        max_file_store: opts.max_file_store,
      });
      const plan = () => {
        const p = planAccounts(server.options.accounts, server.accounts.system.name);
        // Every other account this server knows (the system account too) answers its $JS.API with "not enabled
        // for account", as nats-server does.
        for (const acc of server.accounts) {
          if (!p.enabled.has(acc.name) && !p.disabled.includes(acc.name)) p.disabled.push(acc.name);
        }
        return p;
      };
      // The config schemas (zod) load only when needed: a cluster's meta group needs them at once; a single
      // server's engine at the first request that carries a config (engine.ts holds requests meanwhile). Stored
      // streams are recovered without them (stored_config.ts).
      if (clustered) await loadJsSchemas();
      const onReload = () => all.apply(plan());
      try {
        all.startAll(plan());
        cluster?.start();
      } catch (err) {
        all.stop();
        stores.close();
        throw err;
      }
      server.infoExtras.jetstream = true;
      if (opts.domain) server.infoExtras.domain = opts.domain;
      if (cluster) server.monitorSections.set("healthz", (q) => cluster?.healthProblem(q));
      server.monitorSections.set("jsz", (q) => {
        const out = jsz(all, jszQuery(q));
        if (cluster) {
          out.meta_cluster = cluster.metaInfo();
          out.ha_assets = cluster.haAssets();
        }
        return out;
      });
      server.monitorSections.set("varz.jetstream", () => varzJetStream(all));
      onStart?.(all.get("$G"), all);
      server.reloadListeners.add(onReload);
      // SIGUSR2: leaderships move before the clients are drained (nats-server transfers its Raft leaders first).
      if (cluster) {
        const c = cluster;
        server.onLameDuck(async () => {
          await c.lameDuck();
        });
      }
      return {
        // Leaderships move to other servers while the routes are up and the clients still connected (a rolling
        // restart loses no publish), unless the whole cluster is going (StopOptions.handOff).
        handOff: async (opts?: StopOptions) => {
          if (cluster && opts?.handOff !== false) await cluster.handOff();
        },
        stop: async () => {
          server.reloadListeners.delete(onReload);
          if (cluster) server.monitorSections.delete("healthz");
          cluster?.stop();
          nrg?.close();
          all.stop();
          stores.close();
        },
      };
    },
  };
}

/** How many servers of other clusters the gateway block names (one per URL; the own cluster's entry is skipped). */
export function gatewayPeers(gw: { name: string; gateways: readonly { name: string; urls: readonly string[] }[] } | undefined): number {
  if (!gw || gw.name === "") return 0;
  let n = 0;
  for (const g of gw.gateways) if (g.name !== gw.name) n += new Set(g.urls).size;
  return n;
}

/**
 * How many servers the configured routes name, this one included: the meta group forms as soon as all of
 * them are seen. A route to this server's own port on a loopback or unspecified host is this server.
 */
export function expectedPeers(routes: readonly string[], ownPort: number | undefined): number {
  const others = new Set<string>();
  for (const r of routes) {
    let u: URL;
    try {
      u = new URL(r);
    } catch {
      continue;
    }
    const local = ["127.0.0.1", "localhost", "0.0.0.0", "[::1]"].includes(u.hostname);
    if (local && ownPort !== undefined && ownPort > 0 && Number(u.port) === ownPort) continue;
    others.add(`${u.hostname}:${u.port}`);
  }
  return others.size + 1;
}

