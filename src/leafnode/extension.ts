/** Plugs leafnodes into a Petrel: the hub listener, the remotes, monitoring sections, ports file entry. */
import type { PetrelExtension } from "../petrel.ts";
import { LeafNodes } from "./leafnode.ts";
import { leafz, varzLeaf } from "./monitor.ts";

export function leafNodeExtension(): PetrelExtension {
  return {
    name: "leafnode",
    async start(server, { logger, services }) {
      const options = server.options.leafnodes;
      if (options === undefined) return;
      const leafs = new LeafNodes(server, options, { transport: services.transport, logger, readFile: services.readFile });
      await leafs.start();
      server.monitorSections.set("leafz", (q) => leafz(leafs, q));
      server.monitorSections.set("varz.leaf", () => varzLeaf(leafs));
      // varz.ts reads counters only through the "varz" section; compose with whoever set it first.
      const prior = server.monitorSections.get("varz");
      server.monitorSections.set("varz", (q) => ({ ...(prior?.(q) as Record<string, unknown> | undefined), leafnodes: leafs.active.length }));
      server.onShutdown(() => leafs.stop());
      const url = leafs.url;
      const ports: Record<string, string[]> = url !== undefined ? { leafnode: [`nats://${url}`] } : {};
      return { ports, stop: () => leafs.stop() };
    },
  };
}
