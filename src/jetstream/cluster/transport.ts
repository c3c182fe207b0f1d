/**
 * Raft over the cluster's routes: each server's RaftHost sends one binary WireBatch per peer per flush as a
 * message on `$NRG.<peer>`, and receives on its own subject. The bus is an internal client whose
 * subscriptions are announced to routes (so a batch crosses exactly one route).
 */
import { decodeWireBatch, encodeWireBatch } from "../../raft/codec.ts";
import type { PeerId, RaftTransport, WireBatch } from "../../raft/types.ts";
import type { JsBus } from "../types.ts";

/** A subject token for a server name (names may hold characters a subject token may not). */
export function peerToken(name: PeerId): string {
  if (/^[A-Za-z0-9_-]+$/.test(name)) return name;
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return "h" + h.toString(16);
}

export interface RouteTransport extends RaftTransport {
  close(): void;
  /** Batches that failed to decode (a peer speaking something else). */
  readonly rejected: number;
}

export function routeTransport(bus: JsBus, self: PeerId, receive: (b: WireBatch) => void): RouteTransport {
  let rejected = 0;
  const sid = bus.subscribe(`$NRG.${peerToken(self)}`, (m) => {
    // The bus hands each handler its own copy of the payload: entries can be views into it.
    const b = decodeWireBatch(m.payload, true);
    if (b instanceof Error || b.to !== self) {
      rejected++;
      return;
    }
    receive(b);
  });
  return {
    send(batch: WireBatch) {
      bus.publish(`$NRG.${peerToken(batch.to)}`, encodeWireBatch(batch));
    },
    close() {
      bus.unsubscribe(sid);
    },
    get rejected() {
      return rejected;
    },
  };
}
