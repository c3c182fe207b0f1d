/** Plugs the cluster into a Petrel: route listener, monitoring sections, ports file entry. */
import type { PetrelExtension } from "../petrel.ts";
import { Cluster } from "./cluster.ts";
import { linkTransport } from "../tls/links.ts";
import { routez, varzCluster } from "./monitor.ts";

export function clusterExtension(): PetrelExtension {
  return {
    name: "cluster",
    async start(server, { logger, services }) {
      const options = server.options.cluster;
      if (options === undefined) return;
      // cluster { tls {} }: every route does TLS first, both ways
      const transport = linkTransport(server, services.transport, "cluster.tls", options.tls, "route", logger);
      const cluster = new Cluster(server, options, { transport, logger, interfaceAddresses: services.interfaceAddresses });
      await cluster.start();
      server.monitorSections.set("routez", (q) => routez(cluster, q));
      server.monitorSections.set("varz.cluster", () => varzCluster(cluster));
      server.monitorSections.set("varz.routes", () => cluster.remotes.size);
      server.onShutdown(() => cluster.stop());
      const url = cluster.routeUrl;
      const ports: Record<string, string[]> = url !== undefined ? { cluster: [url] } : {};
      return {
        ports,
        stop: () => cluster.stop(),
      };
    },
  };
}
