// The dashboard's pure parts: rate arithmetic, server-side table paging, and the topology built from
// /routez, /gatewayz and /leafz shapes (as nats-server and Petrel print them).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { addSample, newRateState, rebaseIfStale } from "../../src/dashboard/rates.ts";
import { durationMs, jsSummary, pageOf, streamRows, topology } from "../../src/dashboard/snapshot.ts";
import { ViewSchema } from "../../src/dashboard/view.ts";
import { escapeHtml, pageHtml } from "../../src/dashboard/page.ts";

const c = (t: number, in_msgs: number) => ({ t, in_msgs, out_msgs: 0, in_bytes: in_msgs * 10, out_bytes: 0, connections: 2, slow_consumers: 0 });

describe("rates", () => {
  it("turns counters into per-second rates and keeps a bounded history", () => {
    const st = newRateState(3);
    assert.equal(addSample(st, c(1000, 0)), undefined, "the first sample is a baseline");
    assert.equal(addSample(st, c(3000, 100))?.in_msgs, 50);
    assert.equal(addSample(st, c(3000, 200)), undefined, "no time passed");
    assert.equal(addSample(st, c(4000, 150))?.in_msgs, 0, "a counter going back is shown as zero");
    addSample(st, c(5000, 160));
    addSample(st, c(6000, 170));
    assert.deepEqual(st.history.map((p) => p.t), [4000, 5000, 6000]);
    assert.throws(() => newRateState(0));
    // Nobody watched for a minute: the next rate is of the last second, not an average over the minute.
    rebaseIfStale(st, c(66_000, 1170), 2000);
    assert.equal(addSample(st, c(67_000, 1180))?.in_msgs, 10);
    rebaseIfStale(st, c(67_500, 9999), 2000);
    assert.equal(st.last?.t, 67_000, "a recent baseline stays");
  });
});

describe("tables", () => {
  const rows = Array.from({ length: 7 }, (_, i) => ({ name: `n${i}`, v: i % 3, uptime: `${i}m${i}s` }));
  const view = (o: Record<string, unknown>) => ViewSchema.parse({ limit: "3", ...o });
  const match = (r: { name: string }, q: string) => r.name.includes(q);

  it("sorts, pages and clamps an offset past the end to the last page", () => {
    const p = pageOf(rows, view({ sort: "v", dir: "asc" }), ["name", "v"], "name", match);
    assert.equal(p.total, 7);
    assert.deepEqual(p.rows.map((r) => r.v), [0, 0, 0]);
    const last = pageOf(rows, view({ offset: "99", sort: "name", dir: "asc" }), ["name", "v"], "name", match);
    assert.equal(last.offset, 6);
    assert.deepEqual(last.rows.map((r) => r.name), ["n6"]);
    const unknown = pageOf(rows, view({ sort: "secret", dir: "desc" }), ["name", "v"], "name", match);
    assert.equal(unknown.rows[0].name, "n6", "an unknown column sorts by the default one");
  });

  it("sorts durations by length of time and searches case-insensitively", () => {
    assert.equal(durationMs("1h2m3s"), 3_723_000);
    assert.equal(durationMs("350ms"), 350);
    const p = pageOf(rows, view({ sort: "uptime", dir: "desc", limit: "10" }), ["uptime"], "uptime", match);
    assert.equal(p.rows[0].name, "n6");
    const q = pageOf(rows, view({ q: "N5" }), ["name"], "name", match);
    assert.deepEqual(q.rows.map((r) => r.name), ["n5"]);
  });
});

describe("topology", () => {
  it("has this server, route peers, gateways by remote cluster (up or down) and leafnodes", () => {
    const t = topology(
      { server_name: "a", server_id: "IDA", host: "127.0.0.1", port: 4222, cluster: { name: "east" } },
      { routes: [{ remote_id: "IDB", remote_name: "b", ip: "127.0.0.1", port: 6222, did_solicit: true, rtt: "1ms" }] },
      {
        name: "east",
        outbound_gateways: {
          east: { connection: { name: "IDA" } },
          west: { configured: true, connection: { name: "IDW1", ip: "127.0.0.1", port: 7222, in_msgs: 2, out_msgs: 3 } },
          north: { configured: true },
        },
        inbound_gateways: {
          west: [
            { connection: { name: "IDW1", ip: "127.0.0.1", port: 5555, in_msgs: 1, out_msgs: 1 } },
            { connection: { name: "IDW2", ip: "127.0.0.1", port: 5556 } },
          ],
        },
      },
      { leafs: [{ name: "edge-1", account: "$G", ip: "127.0.0.1", port: 9999, is_spoke: false }] },
    );
    assert.equal(t.cluster, "east");
    assert.equal(t.gateway, "east");
    assert.deepEqual(t.nodes.map((n) => [n.kind, n.name, n.state]), [
      ["self", "a", "up"],
      ["route", "b", "up"],
      ["gateway", "north", "down"],
      ["gateway", "west", "up"],
      ["leaf", "edge-1", "up"],
    ]);
    const west = t.nodes.find((n) => n.name === "west");
    assert.equal(west?.direction, "both");
    assert.equal(west?.in_msgs, 3);
    assert.deepEqual(west?.servers, ["IDW1", "IDW2"]);
  });
});

describe("jetstream shapes", () => {
  it("reads clustered info (meta group, leader, replicas) when /jsz has it", () => {
    const js = jsSummary({
      config: { max_memory: 1 },
      meta_cluster: { name: "east", leader: "a", cluster_size: 3, replicas: [{ name: "b", current: true, active: 1000 }, { name: "c", current: false, lag: 4, offline: true }] },
    });
    assert.equal(js.enabled, true);
    assert.equal(js.meta?.leader, "a");
    assert.equal(js.meta?.cluster_size, 3);
    assert.deepEqual(js.meta?.replicas?.map((r) => [r.name, r.current, r.offline]), [["b", true, undefined], ["c", false, true]]);
    assert.equal(js.meta?.replicas?.[0].active, "1µs", "nanoseconds, as nats-server prints a duration");
    const rows = streamRows({
      account_details: [{
        name: "APP",
        stream_detail: [{
          name: "S",
          config: { subjects: ["s.>"], storage: "memory", num_replicas: 3 },
          state: { messages: 5, bytes: 50, first_seq: 1, last_seq: 5, consumer_count: 1 },
          cluster: { name: "east", leader: "b", replicas: [{ name: "a", current: true, lag: 0 }] },
          consumer_detail: [{ name: "C", num_pending: 2, num_ack_pending: 1, num_redelivered: 0, delivered: { stream_seq: 3 }, ack_floor: { stream_seq: 2 } }],
        }],
      }],
    });
    assert.equal(rows[0].account, "APP");
    assert.equal(rows[0].cluster?.leader, "b");
    assert.equal(rows[0].replicas, 3);
    assert.equal(rows[0].consumers[0].delivered_seq, 3);
    assert.equal(jsSummary({ disabled: true, config: {} }).enabled, false);
  });
});

describe("page", () => {
  it("escapes the server name and keeps the endpoint links", () => {
    assert.equal(escapeHtml(`<b a="x">&'`), "&#60;b a=&#34;x&#34;&#62;&#38;&#39;");
    const html = pageHtml("<script>x</script>", ["varz"]);
    assert.ok(!html.includes("<script>x"));
    assert.ok(html.includes(`<a href="/varz">/varz</a>`));
  });
});
