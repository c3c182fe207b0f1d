/** Plugs gateways into a Petrel: gateway listener and connections, monitoring sections, ports file entry. */
import type { PetrelExtension } from "../petrel.ts";
import { Gateway } from "./gateway.ts";
import { linkTransport, type RemoteTls } from "../tls/links.ts";
import { parseGatewayUrl } from "./protocol.ts";
import { gatewayz, varzGateway } from "./monitor.ts";

export function gatewayExtension(): PetrelExtension {
  return {
    name: "gateway",
    async start(server, { logger, services }) {
      const options = server.options.gateway;
      if (options === undefined || options.name === "") return;
      // gateway { tls {} }: every gateway connection does TLS first, both ways
      const remotes: RemoteTls[] = [];
      options.gateways.forEach((g, i) => {
        if (g.tls === undefined) return;
        const addresses = g.urls.map((u) => parseGatewayUrl(u)).filter((u) => u !== undefined).map((u) => ({ host: u.host, port: u.port }));
        remotes.push({ what: `gateway.gateways[${i}].tls`, cfg: g.tls, addresses });
      });
      const transport = linkTransport(server, services.transport, "gateway.tls", options.tls, "gateway", logger, remotes);
      const gateway = new Gateway(server, options, { transport, logger });
      await gateway.start();
      server.monitorSections.set("gatewayz", (q) => gatewayz(gateway, q));
      server.monitorSections.set("varz.gateway", () => varzGateway(gateway));
      server.onShutdown(() => gateway.stop());
      const url = gateway.url;
      const ports: Record<string, string[]> = url !== undefined ? { gateway: [`nats://${url}`] } : {};
      return {
        ports,
        stop: () => gateway.stop(),
      };
    },
  };
}
