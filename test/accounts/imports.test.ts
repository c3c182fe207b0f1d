// Differential: exports and imports with the same conf file on nats-server 2.9.10 and on Petrel, driven by
// official clients. Isolation (nothing crosses without an export), a stream import under a prefix and with
// `to`, a private export, a service import with `to` and its response crossing back, and requests with no
// service to import.
import { after, before, it } from "node:test";
import assert from "node:assert/strict";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { forEachServer, type RunningServer, startServer, waitFor } from "../helpers/servers.ts";
import { closeAll, te, td } from "../helpers/nats.ts";
import { connectAs, IMPORTS_CONF } from "./helpers.ts";


function record(nc: NatsConnection, subject: string): string[] {
  const got: string[] = [];
  nc.subscribe(subject, { callback: (_e, m) => void got.push(`${m.subject}:${td.decode(m.data)}`) });
  return got;
}

forEachServer(["nats-server", "petrel"], (kind) => {
  let server: RunningServer | undefined;
  let a: NatsConnection, b: NatsConnection, c: NatsConnection;
  before(async () => {
    server = await startServer(kind, { conf: IMPORTS_CONF });
    [a, b, c] = await Promise.all([connectAs(server.port, "a", "pa"), connectAs(server.port, "b", "pb"), connectAs(server.port, "c", "pc")]);
  });
  after(async () => {
    await closeAll([a, b, c]);
    await server?.stop();
  });

  it("delivers a stream import under its prefix, and nothing under the exporter's subject", async () => {
    const mapped = record(b, "fromA.>");
    const plain = record(b, "feed.>");
    const cAll = record(c, ">");
    await b.flush();
    await c.flush();
    a.publish("feed.x", te.encode("1"));
    a.publish("feed.end", te.encode("end"));
    await a.flush();
    await waitFor("the marker through the import", () => mapped.length === 2, 5000, 5);
    await b.flush();
    await c.flush();
    assert.deepEqual(mapped, ["fromA.feed.x:1", "fromA.feed.end:end"]);
    assert.deepEqual(plain, [], "B's own feed.> is B's subject space");
    assert.deepEqual(cAll, [], "C did not import feed.>");
  });

  it("delivers a private export only to the account it lists, mapped with to", async () => {
    const cGot = record(c, "priv.>");
    const bAll = record(b, ">");
    await c.flush();
    await b.flush();
    a.publish("private.x", te.encode("p"));
    await a.flush();
    await waitFor("C's import", () => cGot.length === 1, 5000, 5);
    await b.flush();
    assert.deepEqual(cGot, ["priv.x:p"]);
    assert.deepEqual(bAll, []);
  });

  it("keeps what B publishes out of A", async () => {
    const aAll = record(a, ">");
    await a.flush();
    b.publish("feed.y", te.encode("b"));
    b.publish("svc.echo", te.encode("b"));
    await b.flush();
    a.publish("marker", te.encode("m"));
    await a.flush();
    await waitFor("A's own marker", () => aAll.length >= 1, 5000, 5);
    assert.deepEqual(aAll, ["marker:m"]);
  });

  it("answers a service import with to, the response crossing back to the requester", async () => {
    const seen: Msg[] = [];
    const svc = a.subscribe("svc.>", {
      callback: (_e, m) => {
        seen.push(m);
        m.respond(te.encode(`${m.subject}:${td.decode(m.data)}`));
      },
    });
    await a.flush();
    const r = await b.request("echo", te.encode("hi"), { timeout: 2000 });
    assert.equal(td.decode(r.data), "svc.echo:hi");
    assert.equal(seen[0].subject, "svc.echo");
    assert.ok(seen[0].reply !== undefined && !seen[0].reply.startsWith("_INBOX."), `the requester's inbox is not A's: ${seen[0].reply}`);
    const rc = await c.request("svc.other", te.encode("c"), { timeout: 2000 });
    assert.equal(td.decode(rc.data), "svc.other:c", "a wildcard service import keeps the subject");
    // B imported svc.echo only.
    await assert.rejects(b.request("svc.other", te.encode("x"), { timeout: 500 }));
    // A's own requests go to A's service directly.
    const ra = await a.request("svc.echo", te.encode("self"), { timeout: 2000 });
    assert.equal(td.decode(ra.data), "svc.echo:self");
    svc.unsubscribe();
  });

  for (const [subject, want] of [["one", ["r1", "end"]], ["many", ["r1", "r2", "end"]]] as const) {
    it(`lets ${subject === "one" ? "one response (singleton)" : "every response (stream)"} cross back`, async () => {
      const svc = a.subscribe(subject, {
        callback: (_e, m) => {
          if (td.decode(m.data) === "end") m.respond(te.encode("end"));
          else {
            m.respond(te.encode("r1"));
            m.respond(te.encode("r2"));
          }
        },
      });
      await a.flush();
      const got: string[] = [];
      const inbox = `inbox.${subject}`;
      b.subscribe(inbox, { callback: (_e, m) => void got.push(td.decode(m.data)) });
      await b.flush();
      b.publish(subject, te.encode("req"), { reply: inbox });
      await b.flush();
      await waitFor("first response", () => got.length >= 1, 5000, 5);
      b.publish(subject, te.encode("end"), { reply: inbox });
      await waitFor("the marker response", () => got.includes("end"), 5000, 5);
      assert.deepEqual(got, want);
      svc.unsubscribe();
    });
  }
});
