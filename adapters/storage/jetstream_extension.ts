/**
 * JetStream as a Petrel extension: opens the configured store, wires the engine to the server through an
 * internal client, and registers the monitoring sections (/jsz, /varz jetstream).
 * Lives in adapters/ because it opens runtime storage (filesystem, SQLite).
 */
import * as os from "node:os";
import * as path from "node:path";
import type { JetStreamOptions } from "../../src/config/schema.ts";
import { type JetStream, startJetStream } from "../../src/jetstream/engine.ts";
import { jsz, jszQuery, varzJetStream } from "../../src/jetstream/jsz.ts";
import type { JsBus } from "../../src/jetstream/types.ts";
import type { PetrelExtension } from "../../src/petrel.ts";
import type { Server, SubscriptionListener } from "../../src/server/server.ts";
import { openStorage } from "./index.ts";

const enc = new TextEncoder();

export interface JetStreamHandle {
  engine: JetStream;
}

/** nats-server's default store directory when none is configured. */
export function defaultStoreDir(): string {
  return path.join(os.tmpdir(), "nats", "jetstream");
}

export function jetStreamExtension(opts: JetStreamOptions, onStart?: (js: JetStream) => void): PetrelExtension {
  return {
    name: "jetstream",
    async start(server: Server) {
      const storeDir = opts.store_dir || defaultStoreDir();
      const storage = await openStorage({ kind: opts.storage ?? "file", storeDir, sync: opts.sync_interval });
      // Per-server JetStream: its API and stream subscriptions are not announced to routes, so in a cluster
      // each server answers for its own streams only (instead of every server answering every request).
      const client = server.createInternalClient("$JS", { local: true });
      const listeners: SubscriptionListener[] = [];
      const bus: JsBus = {
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
          const l: SubscriptionListener = (sub, added, account) => {
            if (added && account === client.account && sub.owner !== client) fn(sub.subject);
          };
          listeners.push(l);
          server.subscriptionListeners.add(l);
        },
        hasInterest: (s) => client.account.sublist.hasInterest(s),
      };
      const engine = startJetStream(bus, {
        server_name: server.serverName,
        server_id: server.serverId,
        domain: opts.domain,
        // Reported like nats-server does: the directory JetStream writes into.
        store_dir: path.join(storeDir, "jetstream"),
        max_memory_store: opts.max_memory_store,
        max_file_store: opts.max_file_store,
      }, storage);
      server.infoExtras.jetstream = true;
      if (opts.domain) server.infoExtras.domain = opts.domain;
      server.monitorSections.set("jsz", (q) => jsz(engine, jszQuery(q)));
      server.monitorSections.set("varz.jetstream", () => varzJetStream(engine));
      onStart?.(engine);
      return {
        stop: () => {
          for (const l of listeners) server.subscriptionListeners.delete(l);
          engine.stop();
          storage.close();
          client.close();
          return Promise.resolve();
        },
      };
    },
  };
}
