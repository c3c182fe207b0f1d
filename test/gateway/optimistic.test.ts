// Petrel's outbound link to a remote that stays in optimistic mode (an older or minimal gateway: no
// interest-only switch at connect): everything is sent until the remote answers RS- (no interest in a
// subject) or A- (none in the account); RS+/A+ take that back; gateway_cmd 2 switches to interest-only.
// The remote here is a scripted TCP server, so every byte Petrel sends is visible.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Petrel } from "../../src/petrel.ts";
import { waitFor } from "../helpers/servers.ts";
import { closeAll, te } from "../helpers/nats.ts";
import { gatewayz, startGatewayNode, stopAll } from "./helpers.ts";

interface FakeRemote {
  server: NetServer;
  port: number;
  socket(): Socket | undefined;
  received(): string;
  send(text: string): void;
}

function startFakeRemote(name: string): Promise<FakeRemote> {
  let sock: Socket | undefined;
  let text = "";
  const server = createServer((s) => {
    sock = s;
    s.setEncoding("latin1");
    s.on("data", (d: string) => (text += d));
    s.on("error", () => {});
    s.write(`INFO ${JSON.stringify({ server_id: "NFAKE", server_name: "fake", gateway: name, gateway_url: "127.0.0.1:1", headers: true })}\r\n`);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      resolve({ server, port, socket: () => sock, received: () => text, send: (t) => sock?.write(t) });
    });
  });
}

describe("an outbound link in optimistic mode", () => {
  let fake: FakeRemote;
  let east: Petrel | undefined;
  let nc: NatsConnection;

  before(async () => {
    fake = await startFakeRemote("west");
    east = await startGatewayNode("east", [{ name: "west", urls: [`nats://127.0.0.1:${fake.port}`] }]);
    await waitFor("east's CONNECT and INFO", () => fake.received().includes("CONNECT ") && fake.received().includes('"gateway":"east"'));
    await waitFor("east's outbound registered", async () => (await gatewayz(east!)).outbound_gateways.west !== undefined);
    nc = await connect({ servers: east.clientUrl, reconnect: false, timeout: 5000 });
  });
  after(async () => {
    await closeAll([nc]);
    fake.socket()?.destroy();
    await stopAll([east]);
    await new Promise<void>((r) => fake.server.close(() => r()));
  });

  /** A round trip over the link: east has handled every line the remote sent before, and written what it had. */
  async function sync(): Promise<void> {
    const pongs = fake.received().split("PONG").length;
    fake.send("PING\r\n");
    await waitFor("PONG from east", () => fake.received().split("PONG").length > pongs);
  }

  async function sent(subject: string, body: string): Promise<boolean> {
    await sync();
    const frame = `RMSG $G ${subject} ${body.length}\r\n${body}\r\n`;
    nc.publish(subject, te.encode(body));
    await nc.flush();
    await sync();
    return fake.received().includes(frame);
  }

  it("introduces itself with its gateway name and asks for nothing before the remote's INFO", () => {
    const t = fake.received();
    assert.match(t, /^CONNECT \{[^\r\n]*"gateway":"east"[^\r\n]*\}\r\nINFO \{[^\r\n]*"gateway_iom":true/);
  });

  it("sends everything at first", async () => {
    assert.ok(await sent("opt.one", "a1"));
    assert.ok(await sent("opt.two", "b1"));
  });

  it("stops sending a subject after RS-, and resumes after RS+", async () => {
    fake.send("RS- $G opt.one\r\n");
    assert.equal(await sent("opt.one", "a2"), false);
    assert.ok(await sent("opt.two", "b2"));
    fake.send("RS+ $G opt.one\r\n");
    assert.ok(await sent("opt.one", "a3"));
  });

  it("stops sending anything after A-, and resumes after A+", async () => {
    fake.send("A- $G\r\n");
    assert.equal(await sent("opt.two", "b3"), false);
    fake.send("A+ $G\r\n");
    assert.ok(await sent("opt.two", "b4"));
  });

  it("switches to interest-only on gateway_cmd 2, then sends only announced subjects", async () => {
    fake.send(`INFO {"gateway":"west","gateway_cmd":2,"gateway_cmd_payload":"JEc="}\r\nRS+ $G opt.only\r\nINFO {"gateway":"west","gateway_cmd":3,"gateway_cmd_payload":"JEc="}\r\n`);
    await waitFor("interest in opt.only", () => east!.server.accounts.global.sublist.match("opt.only").psubs.some((s) => s.owner.kind === "gateway" && s.subject === "opt.only"));
    assert.equal(await sent("opt.two", "b5"), false);
    assert.ok(await sent("opt.only", "c1"));
  });

  it("closes the link on a line it does not understand, and dials again", async () => {
    const first = fake.socket();
    fake.send("BOGUS stuff\r\n");
    await waitFor("-ERR from east", () => fake.received().includes("-ERR 'Unknown Protocol Operation'"));
    await waitFor("new connection from east", () => fake.socket() !== first, 5000);
  });
});
