import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encodeHeaders, findHeader, headerStatus } from "../../src/protocol/headers.ts";
import { api, pub, startEngine, TestBus } from "./helpers.ts";
import { waitFor } from "../helpers/servers.ts";
import { startJetStream } from "../../src/jetstream/engine.ts";
import { MemoryStorage } from "../../src/jetstream/store/memory.ts";

type J = Record<string, unknown>;
const err = (r: J) => r.error as { code: number; err_code: number; description: string } | undefined;
const state = (r: J) => r.state as Record<string, number>;

describe("stream API", () => {
  it("creates, reports, lists and deletes streams", async () => {
    const { bus, js } = startEngine();
    try {
      const r = await api(bus, "$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["orders.*"] });
      assert.equal(r.type, "io.nats.jetstream.api.v1.stream_create_response");
      assert.equal(err(r), undefined);
      const cfg = r.config as J;
      assert.equal(cfg.retention, "limits");
      assert.equal(cfg.duplicate_window, 120_000_000_000);
      assert.equal(state(r).messages, 0);
      assert.equal(state(r).first_seq, 0); // as nats-server reports a stream that never held a message
      // Same config again is fine, different config is 10058.
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["orders.*"] })), undefined);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.ORDERS", { name: "ORDERS", subjects: ["x"] }))?.err_code, 10058);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.OTHER", { name: "OTHER", subjects: ["orders.new"] }))?.err_code, 10065);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.X", { name: "Y" }))?.err_code, 10056);
      const bad = await api(bus, "$JS.API.STREAM.CREATE.X", "{nope");
      assert.equal(err(bad)?.err_code, 10025);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.X", { name: "X", max_msgs: "lots" }))?.err_code, 10025);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.X", { name: "X", num_replicas: 3 }))?.err_code, 10074);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.X", { name: "X", max_age: -5 }))?.err_code, 10052);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.X", { name: "X", subjects: ["a.*", "a.b"] }))?.description, 'subject "a.*" overlaps with "a.b"');
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.X", { name: "X", subjects: ["$JS.API.>"] }))?.err_code, 10052);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.X", { subjects: ["x"] }))?.err_code, 10056);
      assert.equal(err(await api(bus, "$JS.API.STREAM.INFO.NOPE"))?.err_code, 10059);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.B", { name: "B" })), undefined);
      const names = await api(bus, "$JS.API.STREAM.NAMES", {});
      assert.deepEqual(names.streams, ["B", "ORDERS"]);
      assert.equal(names.total, 2);
      const filtered = await api(bus, "$JS.API.STREAM.NAMES", { subject: "orders.x" });
      assert.deepEqual(filtered.streams, ["ORDERS"]);
      const list = await api(bus, "$JS.API.STREAM.LIST", {});
      assert.equal((list.streams as J[]).length, 2);
      const acct = await api(bus, "$JS.API.INFO");
      assert.equal(acct.type, "io.nats.jetstream.api.v1.account_info_response");
      assert.equal(acct.streams, 2);
      const del = await api(bus, "$JS.API.STREAM.DELETE.B");
      assert.equal(del.success, true);
      assert.equal(err(await api(bus, "$JS.API.STREAM.DELETE.B"))?.err_code, 10059);
      const upd = await api(bus, "$JS.API.STREAM.UPDATE.ORDERS", { name: "ORDERS", subjects: ["orders.*", "x.>"] });
      assert.equal(err(upd), undefined);
      assert.equal(err(await api(bus, "$JS.API.STREAM.UPDATE.ORDERS", { name: "ORDERS", storage: "memory", subjects: ["orders.*"] }))?.err_code, 10052);
    } finally {
      js.stop();
    }
  });

  it("stores publishes and answers PubAcks with dedupe and expectations", async () => {
    const { bus, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.S", { name: "S", subjects: ["s.>"] });
      assert.deepEqual(await pub(bus, "s.a", "one"), { stream: "S", seq: 1 });
      const h = encodeHeaders([["Nats-Msg-Id", "m1"]]);
      assert.deepEqual(await pub(bus, "s.b", "two", h), { stream: "S", seq: 2 });
      assert.deepEqual(await pub(bus, "s.b", "two", h), { stream: "S", seq: 2, duplicate: true });
      let r = await pub(bus, "s.a", "x", encodeHeaders([["Nats-Expected-Last-Sequence", "1"]]));
      assert.equal(err(r)?.err_code, 10071);
      assert.equal(err(r)?.description, "wrong last sequence: 2");
      r = await pub(bus, "s.a", "x", encodeHeaders([["Nats-Expected-Last-Sequence", "2"]]));
      assert.equal(r.seq, 3);
      r = await pub(bus, "s.a", "x", encodeHeaders([["Nats-Expected-Last-Subject-Sequence", "1"]]));
      assert.equal(err(r)?.err_code, 10071);
      r = await pub(bus, "s.a", "x", encodeHeaders([["Nats-Expected-Last-Subject-Sequence", "3"]]));
      assert.equal(r.seq, 4);
      r = await pub(bus, "s.a", "x", encodeHeaders([["Nats-Expected-Stream", "T"]]));
      assert.equal(err(r)?.err_code, 10060);
      await pub(bus, "s.c", "y", encodeHeaders([["Nats-Msg-Id", "m2"]]));
      r = await pub(bus, "s.c", "y", encodeHeaders([["Nats-Expected-Last-Msg-Id", "zz"]]));
      assert.equal(err(r)?.err_code, 10070);
      r = await pub(bus, "s.c", "y", encodeHeaders([["Nats-Expected-Last-Msg-Id", "m2"]]));
      assert.equal(r.seq, 6);
      const info = await api(bus, "$JS.API.STREAM.INFO.S", { subjects_filter: ">" });
      assert.equal(state(info).messages, 6);
      assert.deepEqual((info.state as J).subjects, { "s.a": 3, "s.b": 1, "s.c": 2 });
    } finally {
      js.stop();
    }
  });

  it("enforces limits, discard policies and message size", async () => {
    const { bus, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.OLD", { name: "OLD", subjects: ["old"], max_msgs: 3 });
      for (let i = 0; i < 5; i++) await pub(bus, "old", String(i));
      let st = state(await api(bus, "$JS.API.STREAM.INFO.OLD"));
      assert.equal(st.messages, 3);
      assert.equal(st.first_seq, 3);
      await api(bus, "$JS.API.STREAM.CREATE.NEW", { name: "NEW", subjects: ["new"], max_msgs: 2, discard: "new" });
      await pub(bus, "new", "a");
      await pub(bus, "new", "b");
      const r = await pub(bus, "new", "c");
      assert.equal(err(r)?.err_code, 10077);
      assert.equal(err(r)?.description, "maximum messages exceeded");
      await api(bus, "$JS.API.STREAM.CREATE.PER", { name: "PER", subjects: ["per.*"], max_msgs_per_subject: 2 });
      for (let i = 0; i < 4; i++) await pub(bus, "per.a", String(i));
      await pub(bus, "per.b", "b");
      st = state(await api(bus, "$JS.API.STREAM.INFO.PER"));
      assert.equal(st.messages, 3);
      await api(bus, "$JS.API.STREAM.CREATE.SZ", { name: "SZ", subjects: ["sz"], max_msg_size: 4 });
      assert.equal(err(await pub(bus, "sz", "12345"))?.err_code, 10054);
      assert.equal((await pub(bus, "sz", "1234")).seq, 1);
      await api(bus, "$JS.API.STREAM.CREATE.BY", { name: "BY", subjects: ["by"], max_bytes: 100 });
      for (let i = 0; i < 5; i++) await pub(bus, "by", "x".repeat(30));
      st = state(await api(bus, "$JS.API.STREAM.INFO.BY"));
      assert.ok(st.bytes <= 100);
      assert.equal(st.last_seq, 5);
      await api(bus, "$JS.API.STREAM.CREATE.AGE", { name: "AGE", subjects: ["age"], max_age: 50_000_000 });
      await pub(bus, "age", "x");
      assert.equal(state(await api(bus, "$JS.API.STREAM.INFO.AGE")).messages, 1);
      // Expiry is the stream's own timer (50 ms): wait for its effect, not for a fixed time.
      st = await waitFor("the message aged out", async () => {
        const now = state(await api(bus, "$JS.API.STREAM.INFO.AGE"));
        return now.messages === 0 ? now : undefined;
      }, 5000, 10);
      assert.equal(st.messages, 0);
      assert.equal(st.first_seq, 2);
    } finally {
      js.stop();
    }
  });

  it("purges, gets and deletes messages, and serves Direct Get", async () => {
    const { bus, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.P", { name: "P", subjects: ["p.*"], allow_direct: true });
      for (let i = 1; i <= 10; i++) await pub(bus, i % 2 ? "p.odd" : "p.even", String(i), encodeHeaders([["I", String(i)]]));
      const g = await api(bus, "$JS.API.STREAM.MSG.GET.P", { seq: 3 });
      const msg = g.message as J;
      assert.equal(msg.subject, "p.odd");
      assert.equal(atob(String(msg.data)), "3");
      assert.match(atob(String(msg.hdrs)), /I: 3/);
      const last = await api(bus, "$JS.API.STREAM.MSG.GET.P", { last_by_subj: "p.even" });
      assert.equal((last.message as J).seq, 10);
      const nx = await api(bus, "$JS.API.STREAM.MSG.GET.P", { next_by_subj: "p.even", seq: 5 });
      assert.equal((nx.message as J).seq, 6);
      assert.equal(err(await api(bus, "$JS.API.STREAM.MSG.GET.P", { seq: 99 }))?.err_code, 10037);
      const d = await bus.request("$JS.API.DIRECT.GET.P", JSON.stringify({ last_by_subj: "p.odd" }));
      assert.equal(new TextDecoder().decode(d.payload), "9");
      assert.equal(findHeader(d.headers ?? new Uint8Array(), "Nats-Sequence"), "9");
      assert.equal(findHeader(d.headers ?? new Uint8Array(), "I"), "9");
      const d2 = await bus.request("$JS.API.DIRECT.GET.P.p.even", "");
      assert.equal(findHeader(d2.headers ?? new Uint8Array(), "Nats-Sequence"), "10");
      const d3 = await bus.request("$JS.API.DIRECT.GET.P", JSON.stringify({ seq: 77 }));
      assert.equal(headerStatus(d3.headers ?? new Uint8Array()), 404);
      assert.equal((await api(bus, "$JS.API.STREAM.MSG.DELETE.P", { seq: 2 })).success, true);
      assert.equal(err(await api(bus, "$JS.API.STREAM.MSG.DELETE.P", { seq: 2 }))?.err_code, 10057);
      let p = await api(bus, "$JS.API.STREAM.PURGE.P", { filter: "p.odd", keep: 1 });
      assert.equal(p.purged, 4);
      p = await api(bus, "$JS.API.STREAM.PURGE.P", { seq: 8 });
      assert.equal(p.purged, 2); // 4, 6
      const st = state(await api(bus, "$JS.API.STREAM.INFO.P"));
      assert.equal(st.messages, 3); // 8, 9, 10
      assert.equal(st.first_seq, 8);
      p = await api(bus, "$JS.API.STREAM.PURGE.P");
      assert.equal(p.purged, 3);
      const st2 = state(await api(bus, "$JS.API.STREAM.INFO.P"));
      assert.equal(st2.first_seq, 11);
      assert.equal(st2.last_seq, 10);
      assert.equal((await pub(bus, "p.x", "z")).seq, 11);
    } finally {
      js.stop();
    }
  });

  it("honours sealed, deny_delete, deny_purge and rollups", async () => {
    const { bus, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.R", { name: "R", subjects: ["r.*"], allow_rollup_hdrs: true, deny_delete: true, deny_purge: true });
      await pub(bus, "r.a", "1");
      await pub(bus, "r.a", "2");
      await pub(bus, "r.b", "3");
      const r = await pub(bus, "r.a", "sum", encodeHeaders([["Nats-Rollup", "sub"]]));
      assert.equal(r.seq, 4);
      assert.equal(state(await api(bus, "$JS.API.STREAM.INFO.R")).messages, 2);
      assert.equal(err(await api(bus, "$JS.API.STREAM.MSG.DELETE.R", { seq: 3 }))?.err_code, 10057);
      assert.equal(err(await api(bus, "$JS.API.STREAM.PURGE.R"))?.code, 500);
      const cfg = (await api(bus, "$JS.API.STREAM.INFO.R")).config as J;
      assert.equal(err(await api(bus, "$JS.API.STREAM.UPDATE.R", { ...cfg, sealed: true })), undefined);
      assert.equal(err(await pub(bus, "r.c", "x"))?.err_code, 10109);
    } finally {
      js.stop();
    }
  });

  it("refuses streams larger than the server's store limits", async () => {
    const bus = new TestBus();
    const js = startJetStream(bus, { max_file_store: 1000, max_memory_store: 500 }, new MemoryStorage());
    try {
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.F", { name: "F", max_bytes: 2000 }))?.err_code, 10047);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.M", { name: "M", max_bytes: 600, storage: "memory" }))?.err_code, 10028);
      assert.equal(err(await api(bus, "$JS.API.STREAM.CREATE.F", { name: "F", max_bytes: 900 })), undefined);
    } finally {
      js.stop();
    }
  });

  it("serves the API under $JS.<domain>.API and names the domain in PubAcks", async () => {
    const bus = new TestBus();
    const js = startJetStream(bus, { domain: "hub" }, new MemoryStorage());
    try {
      const r = await api(bus, "$JS.hub.API.STREAM.CREATE.D", { name: "D", subjects: ["d"] });
      assert.equal(err(r), undefined);
      assert.deepEqual(await pub(bus, "d", "x"), { stream: "D", domain: "hub", seq: 1 });
      assert.equal((await api(bus, "$JS.API.INFO")).domain, "hub");
    } finally {
      js.stop();
    }
  });

  it("republishes stored messages", async () => {
    const { bus, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.RP", { name: "RP", subjects: ["rp.*"], republish: { src: "rp.*", dest: "out.*" } });
      const got = bus.collect("out.>", 1);
      await pub(bus, "rp.a", "hello");
      const [m] = await got.done;
      assert.equal(m.subject, "out.a");
      assert.equal(new TextDecoder().decode(m.payload), "hello");
      assert.equal(findHeader(m.headers ?? new Uint8Array(), "Nats-Sequence"), "1");
      assert.equal(findHeader(m.headers ?? new Uint8Array(), "Nats-Stream"), "RP");
    } finally {
      js.stop();
    }
  });

  it("feeds mirrors and sources on one server", async () => {
    const { bus, js } = startEngine();
    try {
      await api(bus, "$JS.API.STREAM.CREATE.A", { name: "A", subjects: ["a.*"] });
      await pub(bus, "a.1", "x");
      await api(bus, "$JS.API.STREAM.CREATE.M", { name: "M", mirror: { name: "A" } });
      await api(bus, "$JS.API.STREAM.CREATE.SRC", { name: "SRC", sources: [{ name: "A", filter_subject: "a.2" }] });
      await pub(bus, "a.2", "y");
      assert.equal(state(await api(bus, "$JS.API.STREAM.INFO.M")).messages, 2);
      assert.equal(state(await api(bus, "$JS.API.STREAM.INFO.SRC")).messages, 1);
      // Re-wiring (any stream change, or a restart) does not copy what a source already delivered.
      await api(bus, "$JS.API.STREAM.CREATE.OTHER", { name: "OTHER", subjects: ["o"] });
      await pub(bus, "a.2", "z");
      assert.equal(state(await api(bus, "$JS.API.STREAM.INFO.SRC")).messages, 2);
      assert.equal(state(await api(bus, "$JS.API.STREAM.INFO.M")).messages, 3);
    } finally {
      js.stop();
    }
  });
});
