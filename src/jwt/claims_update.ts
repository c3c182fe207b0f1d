/**
 * The full resolver's update service, as nats-server 2.9 runs it in the system account: an account JWT published
 * to `$SYS.REQ.CLAIMS.UPDATE` (or `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE`) is checked against the trusted
 * operators, kept in the resolver's directory, and applies at once: users the new JWT revokes are disconnected.
 * Only clients of the system account can publish there (the subscription lives in that account).
 */
import type { Server } from "../server/server.ts";
import type { OperatorTrust } from "./operator.ts";
import type { JwtStore } from "./store.ts";

const enc = new TextEncoder();
// Made on first use: a TextDecoder built at load brings ~0.3 MB of Bun's code in on every start (bench/RESULTS.md,
// "bunidle, 2026-12-07"), and a plain start decodes nothing.
let decoder: TextDecoder | undefined;
const dec = { decode: (b: Uint8Array): string => (decoder ??= new TextDecoder()).decode(b) };

export const CLAIMS_UPDATE = "$SYS.REQ.CLAIMS.UPDATE";
export const ACCOUNT_CLAIMS_UPDATE = "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE";

export function startClaimsUpdates(server: Server, trust: OperatorTrust, store: JwtStore): () => void {
  const client = server.createInternalClient("claims update", { account: server.accounts.system.name });
  const who = { name: server.serverName, id: server.serverId };
  const answer = (reply: string | undefined, body: Record<string, unknown>) => {
    if (reply !== undefined && reply !== "") client.publish(reply, enc.encode(JSON.stringify({ server: who, ...body })));
  };
  const handle = (subject: string, payload: Uint8Array, reply: string | undefined) => {
    const jwt = dec.decode(payload).trim();
    const r = trust.update(jwt, Date.now());
    if (!r.ok) {
      server.logger.warn(`claims update refused: ${r.error}`);
      answer(reply, { error: { code: 400, description: `jwt update resulted in error - ${r.error}` } });
      return;
    }
    const account = r.value;
    // $SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE must carry that account's JWT
    const named = /^\$SYS\.REQ\.ACCOUNT\.([^.]+)\.CLAIMS\.UPDATE$/.exec(subject)?.[1];
    if (named !== undefined && named !== account) {
      answer(reply, { error: { account, code: 400, description: "subject does not match the account in the JWT" } });
      return;
    }
    try {
      store.save(account, jwt);
    } catch (e) {
      answer(reply, { error: { account, code: 500, description: `jwt update resulted in error - ${String(e)}` } });
      return;
    }
    server.accounts.ensure(account);
    for (const c of [...server.clients.values()]) {
      if (c.state !== "connected" || c.account.name !== account || c.user === undefined) continue;
      if (c.jwtIssuedAt !== undefined && trust.isRevoked(account, c.user, c.jwtIssuedAt)) {
        server.logger.info(`user ${c.user} of account ${account} revoked: disconnected`);
        c.closeWithError("Authorization Violation", "Credentials Revoked");
      }
    }
    server.logger.info(`account ${account} claims updated`);
    answer(reply, { data: { account, code: 200, message: "jwt updated" } });
  };
  client.subscribe(CLAIMS_UPDATE, (m) => handle(m.subject, m.payload, m.reply));
  client.subscribe(ACCOUNT_CLAIMS_UPDATE, (m) => handle(m.subject, m.payload, m.reply));
  return () => client.close();
}
