/**
 * JetStream as a Petrel extension: opens the configured store, wires the engine to the server through an
 * internal client, and registers the monitoring sections (/jsz, /varz jetstream).
 * Lives in adapters/ because it opens runtime storage (filesystem, SQLite).
 */
import * as os from "node:os";
import * as path from "node:path";
import type { JetStreamOptions } from "../../src/config/schema.ts";
import { type AccountBus, JetStreamAccounts, planAccounts } from "../../src/jetstream/accounts.ts";
import type { JetStream } from "../../src/jetstream/engine.ts";
import { jsz, jszQuery, varzJetStream } from "../../src/jetstream/jsz.ts";
import type { PetrelExtension } from "../../src/petrel.ts";
import type { Server, SubscriptionListener } from "../../src/server/server.ts";
import { openAccountStores } from "./index.ts";

const enc = new TextEncoder();

export interface JetStreamHandle {
  engine: JetStream;
}

/** nats-server's default store directory when none is configured. */
export function defaultStoreDir(): string {
  return path.join(os.tmpdir(), "nats", "jetstream");
}

/**
 * The bus of one account's engine: an internal client bound to the account. Its subscriptions are `local`
 * (not announced to routes): in a cluster each server answers for its own streams only.
 */
function accountBus(server: Server, account: string): AccountBus {
  const client = server.createInternalClient(account === "$G" ? "$JS" : `$JS ${account}`, { local: true, account });
  const listeners: SubscriptionListener[] = [];
  return {
    subscribe: (s, h, o) => client.subscribe(s, h, o),
    unsubscribe: (sid) => client.unsubscribe(sid),
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
        subjectBytes: enc.encode(s),
        reply: o.reply ? enc.encode(o.reply) : null,
        hdrSize,
        payload: body,
      }, client);
    },
    onSubscribe: (fn) => {
      const l: SubscriptionListener = (sub, added, acc) => {
        if (added && acc === client.account && sub.owner !== client) fn(sub.subject);
      };
      listeners.push(l);
      server.subscriptionListeners.add(l);
    },
    hasInterest: (s) => client.account.sublist.hasInterest(s),
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
      const storeDir = opts.store_dir || defaultStoreDir();
      const stores = await openAccountStores({ kind: opts.storage ?? "file", storeDir, sync: opts.sync_interval });
      const all = new JetStreamAccounts({
        busFor: (account) => accountBus(server, account),
        storageFor: (account) => stores.forAccount(account),
      }, {
        server_name: server.serverName,
        server_id: server.serverId,
        domain: opts.domain,
        // Reported like nats-server does: the directory JetStream writes into.
        store_dir: path.join(storeDir, "jetstream"),
        max_memory_store: opts.max_memory_store,
        max_file_store: opts.max_file_store,
      });
      try {
        const system = server.accounts.system;
        const plan = planAccounts(server.options.accounts, system.name);
        // Every other account this server knows (the system account too) answers its $JS.API with "not enabled
        // for account", as nats-server does.
        for (const acc of server.accounts) {
          if (!plan.enabled.has(acc.name) && !plan.disabled.includes(acc.name)) plan.disabled.push(acc.name);
        }
        all.startAll(plan);
      } catch (err) {
        all.stop();
        stores.close();
        throw err;
      }
      server.infoExtras.jetstream = true;
      if (opts.domain) server.infoExtras.domain = opts.domain;
      server.monitorSections.set("jsz", (q) => jsz(all, jszQuery(q)));
      server.monitorSections.set("varz.jetstream", () => varzJetStream(all));
      onStart?.(all.get("$G"), all);
      return {
        stop: () => {
          all.stop();
          stores.close();
          return Promise.resolve();
        },
      };
    },
  };
}
