// Mirrors and sources across JetStream domains, differential: a leafnode server in domain `edge` mirrors and
// sources a stream of its hub (domain `hub`) through `$JS.hub.API` (`external { api, deliver }`), as nats-server's
// documentation sets it up. The leaf link runs through a loopback proxy that is cut while the hub takes more
// messages and then healed: the leaf redials and both streams resume with every message once, at nats-server's
// sequences and `Nats-Stream-Source` values. Each domain keeps `$JS.API` to itself; the feeds' consumers on the
// hub are not listed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type StreamInfo } from "@nats-io/jetstream";
import { type RunningServer, type ServerKind, startServer, waitFor } from "../helpers/servers.ts";
import { type LinkProxy, startLinkProxy } from "../helpers/link_proxy.ts";
import { freePort } from "../helpers/ports.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { startPetrel } from "../../mod.ts";
import { flushInterest, hasLeafInterest, leafUrl, startHub, waitLeafs } from "./helpers.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";

const td = new TextDecoder();
const HUB_API = "$JS.hub.API";

interface Side {
  kind: ServerKind;
  hub: RunningServer;
  hubConf: string;
  leaf: RunningServer;
  proxy: LinkProxy;
  hubNc: NatsConnection;
  leafNc: NatsConnection;
  dir: string;
}

async function startSide(kind: ServerKind): Promise<Side> {
  // nats-server's ports file does not name the leafnode listener: a port picked here. The hub advertises the proxy as its leafnode address: a nats-server leaf redials
  // the advertised addresses too, and would otherwise go around the proxy.
  const leafPort = await freePort();
  const proxy = await startLinkProxy(leafPort);
  const dir = mkdtempSync(join(tmpdir(), "petrel-jsdomain-"));
  const hubConf = `server_name: hub1\njetstream { store_dir: "${join(dir, "hub")}", domain: hub }\n` +
    `leafnodes { listen: "127.0.0.1:${leafPort}", advertise: "127.0.0.1:${proxy.port}" }\n`;
  const hub = await startServer(kind, { conf: hubConf });
  const leaf = await startServer(kind, {
    jetstream: true,
    conf: `server_name: leaf1\njetstream { domain: edge }\nleafnodes { remotes: [ { url: "${proxy.url}" } ] }\n`,
  });
  const hubNc = await connect({ servers: hub.url });
  const leafNc = await connect({ servers: leaf.url });
  return { kind, hub, hubConf, leaf, proxy, hubNc, leafNc, dir };
}

async function stopSide(s: Side | undefined): Promise<void> {
  if (!s) return;
  await s.hubNc.close().catch(() => {});
  await s.leafNc.close().catch(() => {});
  await s.leaf.stop();
  await s.proxy.close();
  await s.hub.stop();
  rmSync(s.dir, { recursive: true, force: true });
}

/** Does the leaf reach the hub's API (the link is up and the hub's interest known there)? */
async function hubReachable(nc: NatsConnection): Promise<boolean> {
  try {
    const r = await nc.request(`${HUB_API}.INFO`, "", { timeout: 500 });
    return (r.json() as { domain?: string }).domain === "hub";
  } catch {
    return false;
  }
}

interface Outcome {
  hubConsumers: { names: string[]; count: number; account: number };
  /** Which domains answer `$JS.API.INFO` asked on the leaf, and on the hub. */
  apiOnLeaf: string[];
  apiOnHub: string[];
  mirror: { messages: number; first: number; last: number; subjects: string[]; lag?: number; external?: unknown };
  source: { messages: number; sourced: string[]; lag?: number; external?: unknown };
}

async function domainsAnswering(nc: NatsConnection, subject: string): Promise<string[]> {
  const inbox = `_INBOX.domains.${Math.random().toString(36).slice(2)}`;
  const got: string[] = [];
  const sub = nc.subscribe(inbox, {
    callback: (_e, m) => {
      got.push((JSON.parse(td.decode(m.data)) as { domain?: string }).domain ?? "");
    },
  });
  nc.publish(subject, "", { reply: inbox });
  // A marker after the request on the same path: answers to it have come by the time the marker's answer has.
  await nc.request(`${HUB_API}.INFO`, "", { timeout: 2000 });
  await nc.request("$JS.API.INFO", "", { timeout: 2000 });
  sub.unsubscribe();
  return got.sort();
}

async function scenario(s: Side): Promise<Outcome> {
  await waitFor("the leaf reaches the hub's API", () => hubReachable(s.leafNc), 15_000);
  const hjsm = await jetstreamManager(s.hubNc);
  const ljsm = await jetstreamManager(s.leafNc, { domain: "edge" });
  const hjs = jetstream(s.hubNc);
  await hjsm.streams.add({ name: "ORDERS", subjects: ["orders.>"] });
  for (let i = 1; i <= 5; i++) await hjs.publish(`orders.${i % 2 === 0 ? "b" : "a"}`, `o${i}`);
  await ljsm.streams.add({ name: "M", mirror: { name: "ORDERS", external: { api: HUB_API, deliver: "deliver.edge.m" } } });
  await ljsm.streams.add({
    name: "S",
    subjects: ["local.>"],
    sources: [{ name: "ORDERS", filter_subject: "orders.a", external: { api: HUB_API, deliver: "deliver.edge.s" } }],
  });
  const holds = (name: string, n: number) =>
    waitFor(`${name} holds ${n}`, async () => (await ljsm.streams.info(name)).state.messages === n, 15_000);
  await holds("M", 5);
  await holds("S", 3);

  // Cut the leaf link; the hub goes on taking messages; heal it: the leaf redials and the feeds resume.
  s.proxy.cut();
  await waitFor("the leaf lost the hub", async () => !(await hubReachable(s.leafNc)), 15_000);
  for (let i = 6; i <= 10; i++) await hjs.publish(`orders.${i % 2 === 0 ? "b" : "a"}`, `o${i}`);
  assert.equal((await ljsm.streams.info("M")).state.messages, 5, "nothing reaches the leaf while the link is cut");
  s.proxy.heal();
  await holds("M", 10);
  await holds("S", 5);
  // One more after the resume: it arrives once, after the rest.
  await hjs.publish("orders.a", "o11");
  await holds("M", 11);
  await holds("S", 6);

  const mi: StreamInfo = await ljsm.streams.info("M", { subjects_filter: ">" });
  const subjects: string[] = [];
  for (let seq = mi.state.first_seq; seq <= mi.state.last_seq; seq++) {
    const m = await ljsm.streams.getMessage("M", { seq });
    subjects.push(`${m!.seq} ${m!.subject} ${td.decode(m!.data)}`);
  }
  const si: StreamInfo = await ljsm.streams.info("S");
  const sourced: string[] = [];
  for (let seq = si.state.first_seq; seq <= si.state.last_seq; seq++) {
    const m = await ljsm.streams.getMessage("S", { seq });
    sourced.push(`${m!.seq} ${m!.subject} ${td.decode(m!.data)} ${m!.header?.get("Nats-Stream-Source")}`);
  }
  // The feeds' consumers on the hub are not listed and not in the stream's consumer count (nats-server's `direct`).
  const hub = await jetstreamManager(s.hubNc);
  const names = (await s.hubNc.request("$JS.API.CONSUMER.NAMES.ORDERS", "", { timeout: 2000 })).json() as { consumers?: string[] };
  return {
    hubConsumers: { names: names.consumers ?? [], count: (await hub.streams.info("ORDERS")).state.consumer_count, account: (await hub.getAccountInfo()).consumers },
    apiOnLeaf: await domainsAnswering(s.leafNc, "$JS.API.INFO"),
    apiOnHub: await domainsAnswering(s.hubNc, "$JS.API.INFO"),
    mirror: {
      messages: mi.state.messages,
      first: mi.state.first_seq,
      last: mi.state.last_seq,
      subjects,
      lag: mi.mirror?.lag,
      external: (mi.mirror as { external?: unknown } | undefined)?.external,
    },
    source: {
      messages: si.state.messages,
      sourced,
      lag: si.sources?.[0]?.lag,
      external: (si.sources?.[0] as { external?: unknown } | undefined)?.external,
    },
  };
}

describe("JetStream mirror and source across domains (leafnode, link cut and healed)", () => {
  const outcomes = new Map<ServerKind, Outcome>();
  for (const kind of ["nats-server", "petrel"] as ServerKind[]) {
    let side: Side | undefined;
    describe(kind, () => {
      before(async () => {
        side = await startSide(kind);
      });
      after(async () => {
        await stopSide(side);
      });
      it(`${kind}: the edge mirrors and sources the hub through $JS.hub.API and resumes after the link is cut`, { timeout: 90_000 }, async () => {
        const o = await scenario(side!);
        outcomes.set(kind, o);
        // Account info counts them (nats-server 2.9.10 does): the two feeds, and for a while after the cut also a
        // feed's consumer from before it, until the hub drops it as inactive (seen on nats-server too).
        const { account, ...listed } = o.hubConsumers;
        assert.deepEqual(listed, { names: [], count: 0 });
        assert.ok(account === 2 || account === 3, `account info counts ${account} consumers`);
        assert.deepEqual(o.apiOnLeaf, ["edge"]);
        assert.deepEqual(o.apiOnHub, ["hub"]);
        const subjectOf = (q: number) => q === 11 || q % 2 === 1 ? "a" : "b";
        assert.deepEqual(o.mirror.subjects, Array.from({ length: 11 }, (_, i) => `${i + 1} orders.${subjectOf(i + 1)} o${i + 1}`));
        assert.equal(o.mirror.lag, 0);
        assert.deepEqual(o.mirror.external, { api: HUB_API, deliver: "deliver.edge.m" });
        const originSeqs = [1, 3, 5, 7, 9, 11];
        assert.deepEqual(o.source.sourced.map((l) => l.split(" ").slice(0, 3).join(" ")), originSeqs.map((q, i) => `${i + 1} orders.a o${q}`));
        assert.equal(o.source.lag, 0);
        assert.ok(s(o.source.sourced).every((l, i) => new RegExp(`^ORDERS:\\w{8} ${originSeqs[i]}$`).test(l)), o.source.sourced.join(", "));
        const ref = outcomes.get("nats-server");
        const same = (x: Outcome) => ({ ...x, hubConsumers: { ...x.hubConsumers, account: 0 } });
        if (kind === "petrel" && ref) assert.deepEqual(same(o), same(ref), "Petrel as nats-server");
      });
    });
  }
});

/** The `Nats-Stream-Source` values of `sourced` lines. */
function s(lines: string[]): string[] {
  return lines.map((l) => l.split(" ").slice(3).join(" "));
}

describe("a leaf in a JetStream domain of its own keeps $JS.API off its link", () => {
  it("neither offers its $JS.API interest to the hub nor takes the hub's", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "petrel-jsdomain-"));
    const hub = await startHub("hub0");
    const leaf = await startPetrel({
      options: {
        server_name: "edge0",
        host: "127.0.0.1",
        port: -1,
        jetstream: { enabled: true, store_dir: dir, domain: "edge" },
        leafnodes: { host: "127.0.0.1", port: 0, remotes: [{ urls: [leafUrl(hub)] }] },
      },
    });
    const onHub = await connect({ servers: hub.clientUrl });
    const onLeaf = await connect({ servers: leaf.clientUrl });
    try {
      await waitLeafs(hub, 1);
      // A client's interest in $JS.API on either side stays there; a marker subscription after it crosses.
      onLeaf.subscribe("$JS.API.>");
      onHub.subscribe("$JS.API.>");
      onLeaf.subscribe("marker.leaf");
      await flushInterest(onLeaf, hub, "marker.leaf");
      onHub.subscribe("marker.hub");
      await flushInterest(onHub, leaf, "marker.hub");
      assert.equal(hasLeafInterest(hub, "$JS.API.>"), false);
      assert.equal(hasLeafInterest(leaf, "$JS.API.>"), false);
      // The domain's own API does cross: the hub's clients reach the edge by its name.
      const r = await onHub.request("$JS.edge.API.INFO", "", { timeout: 2000 });
      assert.equal((r.json() as { domain?: string }).domain, "edge");
    } finally {
      await onHub.close();
      await onLeaf.close();
      await leaf.stop();
      await hub.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
