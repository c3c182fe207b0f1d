// The dashboard in a real browser (Debian's chromium, headless, via playwright-core) against a running
// 3-node cluster with replicated JetStream, a stream and a KV bucket: it renders without console errors, shows
// the three servers, the meta group and the stream's leader and replicas, updates a rate after messages are
// published, and the KV browser shows a value that was just put. Screenshots (desktop and phone, dark and
// light) are saved to $PETREL_SCREENSHOTS (default .tmp/dashboard-screenshots/) for a person to look at.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startPetrel } from "../../mod.ts";
import type { Petrel } from "../../src/petrel.ts";
import { closeAll } from "../helpers/nats.ts";
import { connect } from "@nats-io/transport-node";
import { launchChromium } from "../browser/chromium.ts";
import { waitForMesh } from "../cluster/helpers.ts";
import { waitFor } from "../helpers/servers.ts";

const SHOTS = process.env.PETREL_SCREENSHOTS ?? fileURLToPath(new URL("../../.tmp/dashboard-screenshots/", import.meta.url).href);
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
const runtime = isBun ? "bun" : "deno";

describe("dashboard in a browser", () => {
  const nodes: Petrel[] = [];
  let store: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let nc: NatsConnection;
  let url: string;
  const problems: string[] = [];

  const node = async (name: string, routes: string[]) => {
    const args = ["-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-n", name, "--cluster_name", "dash", "--cluster", "nats://127.0.0.1:-1"];
    if (routes.length > 0) args.push("--routes", routes.join(","));
    args.push("-js", "-sd", join(store, name));
    const p = await startPetrel({ args });
    nodes.push(p);
    return p;
  };
  const jsz = async (p: Petrel) => await (await fetch(`${p.monitorUrl}/jsz?accounts=true&streams=true`)).json() as {
    meta_cluster?: { cluster_size?: number; leader?: string };
    account_details?: Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }>;
  };
  let ordersLeader = "";

  const shot = async (name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${runtime}-${name}.png`), fullPage: true });
  };

  before(async () => {
    store = mkdtempSync(join(tmpdir(), "petrel-dash-js-"));
    const a = await node("alpha", []);
    const seed = a.ports().cluster![0];
    await node("bravo", [seed]);
    await node("charlie", [seed]);
    await waitForMesh(nodes);
    // The meta group takes a few seconds to gather the cluster's JetStream servers.
    await waitFor("a meta group of three", async () => {
      const m = (await jsz(a)).meta_cluster;
      return m?.cluster_size === 3 && m.leader !== undefined && m.leader !== "";
    }, 30_000, 100);
    url = a.monitorUrl!;
    nc = await connect({ servers: a.clientUrl, name: "order-service", reconnect: false, timeout: 5000 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "ORDERS", subjects: ["orders.>"], num_replicas: 3 });
    await jsm.consumers.add("ORDERS", { durable_name: "billing", ack_policy: "explicit" });
    await jetstream(nc).publish("orders.created", JSON.stringify({ id: 1, total: 42 }));
    const kv = await new Kvm(nc).create("config", { history: 3, replicas: 3 });
    await kv.put("region", "eu-west");
    ordersLeader = await waitFor("the stream's leader in /jsz", async () => {
      const d = (await jsz(a)).account_details?.[0]?.stream_detail?.find((x) => x.name === "ORDERS");
      return d?.cluster?.leader || undefined;
    }, 10_000, 50);
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.emulateMedia({ colorScheme: "dark" });
  }, { timeout: 120_000 });

  after(async () => {
    await browser?.close();
    await closeAll([nc]);
    for (const n of nodes.reverse()) await n.stop();
    if (store) rmSync(store, { recursive: true, force: true });
  });

  it("shows the three servers, and a rate that follows published messages", async () => {
    await page.goto(`${url}/`);
    await page.waitForFunction(() => /3 servers in dash/.test(document.getElementById("live")?.textContent ?? ""), undefined, { timeout: 15_000 });
    assert.equal(await page.locator("#live-sr").textContent(), "live, 3 servers in dash", "screen readers hear the state, not the clock");
    const topo = await page.locator("#topology-table tbody").innerText();
    for (const n of ["alpha", "bravo", "charlie"]) assert.match(topo, new RegExp(n));
    assert.match(await page.locator("#topology svg").getAttribute("aria-label") ?? "", /2 routes/);
    // Wait for a rate point to exist, then publish: a later frame's rate must show the burst.
    await page.waitForFunction(() => (document.querySelectorAll("#chart-msgs polyline")[0]?.getAttribute("points") ?? "").includes(","));
    for (let i = 0; i < 500; i++) nc.publish("telemetry.load", "x");
    await nc.flush();
    await page.waitForFunction(() => {
      const label = document.querySelector("#chart-msgs svg")?.getAttribute("aria-label") ?? "";
      const m = /in ([\d.]+)([KMG]?)\/s/.exec(label);
      return m !== null && Number(m[1]) > 0;
    }, undefined, { timeout: 10_000 });
    await page.waitForTimeout(1200); // one more tick, so the chart has a visible line for the screenshot
    await shot("overview-desktop-dark");
    await page.emulateMedia({ colorScheme: "light" });
    await shot("overview-desktop-light");
  });

  it("shows the meta group, the stream's leader and replicas, and its consumer on the leader", async () => {
    await page.click("#tab-jetstream");
    const orders = "#streams-table tbody tr[data-key='$G/ORDERS']";
    await page.waitForSelector(orders, { timeout: 10_000 });
    await page.waitForSelector("#js-meta-leader");
    assert.match(await page.locator("#js-meta").innerText(), /Meta group of cluster dash[\s\S]*3 servers/);
    assert.match(await page.locator("#js-meta-leader").innerText(), /^(alpha|bravo|charlie)$/);
    await page.waitForFunction((sel) => /current/.test(document.querySelector(sel)?.textContent ?? ""), orders);
    const cells = await page.locator(`${orders} td`).allInnerTexts();
    assert.equal(cells[1], "ORDERS");
    assert.equal(cells[4], "3", "three replicas");
    assert.equal(cells[10], ordersLeader, "the stream's leader");
    const others = ["alpha", "bravo", "charlie"].filter((n) => n !== ordersLeader);
    for (const n of others) assert.match(cells[11], new RegExp(`${n} current`), `replica ${n}`);
    await shot("jetstream-desktop-light");
    // Consumers live on the stream's leader: its own dashboard lists them.
    const leader = nodes.find((n) => n.server.serverName === ordersLeader)!;
    await page.goto(`${leader.monitorUrl}/#jetstream`);
    await page.waitForSelector(orders, { timeout: 10_000 });
    await page.click(`${orders} button[aria-expanded]`);
    await page.waitForSelector("#streams-table tr.sub table");
    assert.match(await page.locator("#streams-table tr.sub").innerText(), /billing/);
    await page.goto(`${url}/#jetstream`);
    await page.waitForSelector(orders, { timeout: 10_000 });
  });

  it("finds a connection by searching, from the keyboard", async () => {

    // Keyboard: from the JetStream tab, ArrowLeft twice reaches Connections... via Subscriptions.
    await page.focus("#tab-jetstream");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("ArrowLeft");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "tab-connections");
    await page.fill("#connections-table-q", "order-serv");
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("#connections-table tbody tr")];
      return rows.length === 1 && /order-service/.test(rows[0].textContent ?? "");
    }, undefined, { timeout: 10_000 });
  });

  it("browses a KV bucket and shows a value that was just put", async () => {
    await page.click("#tab-browser");
    await page.waitForSelector("#browse-stream option[value='KV_config']", { state: "attached", timeout: 10_000 });
    await page.selectOption("#browse-stream", "KV_config");
    await page.waitForSelector("#browse-keys button[data-key='region']");
    const kv = await new Kvm(nc).open("config");
    await kv.put("feature.flags", JSON.stringify({ dark: true }));
    await page.click("#browse-keys-refresh");
    await page.click("#browse-keys button[data-key='feature.flags']", { timeout: 10_000 });
    await page.waitForFunction(() => /"dark": ?true/.test(document.querySelector("#browse-messages")?.textContent ?? ""));
    await shot("kv-desktop-light");
    await page.selectOption("#browse-stream", "ORDERS");
    await page.click("#browse-load");
    await page.waitForFunction(() => /"total": ?42/.test(document.querySelector("#browse-messages")?.textContent ?? ""));
    await shot("messages-desktop-light");
  });

  it("switches theme from the keyboard: system, dark, light", async () => {
    await page.focus("#theme");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(bg, "rgb(246, 247, 249)");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), undefined);
    assert.match(await page.locator("#theme").getAttribute("aria-label") ?? "", /system/);
  });

  it("fits a phone's width, dark and light", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click("#tab-overview");
    await page.waitForSelector("#topology svg");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
    await shot("overview-phone-light");
    await page.emulateMedia({ colorScheme: "dark" });
    await page.click("#tab-jetstream");
    await page.waitForSelector("#streams-table tbody tr[data-key='$G/ORDERS']");
    await shot("jetstream-phone-dark");
    assert.deepEqual(problems, [], "no console errors");
  });
});
