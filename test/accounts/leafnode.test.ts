// Leafnodes bound to accounts, differential with nats-server 2.9.10 on either side: the hub's
// `leafnodes { authorization { users } }` binds each leaf user to an account, the leaf's remotes name their
// local `account`, and two accounts cross one pair of servers without meeting. Wrong leaf credentials get
// nats-server's -ERR.
import { after, before, describe, it } from "node:test";
import { monitorJson, type RunningServer, type ServerKind, startServer, testTargets, waitFor } from "../helpers/servers.ts";
import { connectRaw } from "../helpers/raw.ts";
import { accountsConf, twoAccountsAcross } from "./helpers.ts";

const HUB = `${accountsConf()}leafnodes {
  listen: "127.0.0.1:-1"
  authorization {
    users: [
      {user: la, password: pla, account: A}
      {user: lb, password: plb, account: B}
    ]
  }
}
`;

function leafConf(port: number): string {
  return `${accountsConf()}leafnodes {
  remotes: [
    {url: "nats-leaf://la:pla@127.0.0.1:${port}", account: A}
    {url: "nats-leaf://lb:plb@127.0.0.1:${port}", account: B}
  ]
}
`;
}

/** The hub's leafnode port: from the ports file, or /varz (nats-server's ports file does not list it). */
async function leafPortOf(s: RunningServer): Promise<number> {
  if (s.leafPort !== undefined) return s.leafPort;
  return (await monitorJson<{ leaf: { port: number } }>(s, "/varz")).leaf.port;
}

const PAIRS: [ServerKind, ServerKind][] = [["petrel", "nats-server"], ["nats-server", "petrel"], ["petrel", "petrel"]];

for (const [hubKind, leafKind] of PAIRS) {
  if (!testTargets().includes("petrel")) continue;
  describe(`accounts over a leafnode link: ${hubKind} hub, ${leafKind} leaf`, () => {
    let hub: RunningServer | undefined;
    let leaf: RunningServer | undefined;
    before(async () => {
      hub = await startServer(hubKind, { conf: HUB, monitor: true });
      leaf = await startServer(leafKind, { conf: leafConf(await leafPortOf(hub)) });
      await waitFor("two leafnode links on the hub", async () => {
        const r = await fetch(`${hub!.monitorUrl}/leafz`);
        const j = await r.json() as { leafs: { account: string }[] };
        return j.leafs.map((l) => l.account).sort().join(",") === "A,B";
      }, 10_000, 50);
    });
    after(async () => {
      await leaf?.stop();
      await hub?.stop();
    });

    it("keeps two accounts apart from the leaf to the hub", { timeout: 30_000 }, async () => {
      await twoAccountsAcross(leaf!.port, hub!.port);
    });

    it("keeps two accounts apart from the hub to the leaf", { timeout: 30_000 }, async () => {
      await twoAccountsAcross(hub!.port, leaf!.port);
    });

    if (hubKind === "petrel") {
      it("refuses a leaf with wrong credentials", async () => {
        const c = await connectRaw(await leafPortOf(hub!));
        try {
          await c.readUntil("\r\n");
          await c.send(`CONNECT {"user":"la","pass":"wrong","name":"x","server_id":"NX"}\r\n`);
          await c.readUntil("-ERR 'Authorization Violation'\r\n", 3000);
        } finally {
          c.close();
        }
      });
    }
  });
}

describe("leafnode credentials refused the same way", () => {
  for (const kind of testTargets()) {
    it(`${kind}: a leaf CONNECT with a wrong password gets -ERR 'Authorization Violation'`, async () => {
      const hub = await startServer(kind, { conf: HUB, monitor: true });
      try {
        const c = await connectRaw(await leafPortOf(hub));
        try {
          await c.readUntil("\r\n");
          await c.send(`CONNECT {"user":"lb","pass":"pla","name":"x","server_id":"NX"}\r\n`);
          await c.readUntil("-ERR 'Authorization Violation'\r\n", 3000);
        } finally {
          c.close();
        }
      } finally {
        await hub.stop();
      }
    });
  }
});
