/**
 * The gateway protocol as nats-server 2.9 speaks it: the INFO and CONNECT JSON exchanged when two clusters
 * connect, the INFO commands that switch an account to interest-only mode (gateway_cmd 2 / 3, the account
 * name base64 in gateway_cmd_payload) or gossip another gateway (gateway_cmd 1), the 6-character name hashes
 * of mapped reply subjects (`_GR_.<cluster hash>.<server hash>.<reply>`), and gateway URLs.
 * Message framing (RMSG/HMSG, RS+/RS-) is the route protocol's, reused from src/cluster/protocol.ts.
 */
import { z } from "zod";
import { parseJsonAs } from "../cluster/protocol.ts";

export const CMD_GOSSIP = 1;
export const CMD_ALL_SUBS_START = 2;
export const CMD_ALL_SUBS_COMPLETE = 3;

/** Reply subjects of requests sent across a gateway are prefixed with this, the two hashes and a dot each. */
export const GW_REPLY_PREFIX = "_GR_.";
export const GW_HASH_LEN = 6;
/** Length of `_GR_.<cluster>.<server>.` */
export const GW_REPLY_HEAD = GW_REPLY_PREFIX.length + 2 * (GW_HASH_LEN + 1);

const gatewayInfoSchema = z.looseObject({
  server_id: z.string().optional(),
  server_name: z.string().optional(),
  version: z.string().optional(),
  headers: z.boolean().optional(),
  auth_required: z.boolean().optional(),
  gateway: z.string().optional(),
  gateway_url: z.string().optional(),
  gateway_urls: z.array(z.string()).nullish(),
  gateway_nrp: z.boolean().optional(),
  gateway_iom: z.boolean().optional(),
  gateway_cmd: z.number().int().optional(),
  gateway_cmd_payload: z.string().nullish(),
});
export type GatewayInfo = z.infer<typeof gatewayInfoSchema>;

const gatewayConnectSchema = z.looseObject({
  user: z.string().optional(),
  pass: z.string().optional(),
  auth_token: z.string().optional(),
  name: z.string().optional(),
  gateway: z.string().optional(),
  headers: z.boolean().optional(),
});
export type GatewayConnect = z.infer<typeof gatewayConnectSchema>;

export function parseGatewayInfo(text: string): GatewayInfo | undefined {
  return parseJsonAs(gatewayInfoSchema, text);
}

export function parseGatewayConnect(text: string): GatewayConnect | undefined {
  return parseJsonAs(gatewayConnectSchema, text);
}

/** The account named by an interest-mode command (base64 in JSON, as Go marshals a byte slice). */
export function commandAccount(info: GatewayInfo): string | undefined {
  const p = info.gateway_cmd_payload;
  if (p === undefined || p === null) return undefined;
  try {
    return atob(p);
  } catch {
    return undefined;
  }
}

/** `INFO {...}` asking the remote to treat `account` as interest-only (start) or saying all its subs were sent. */
export function interestModeInfo(gateway: string, cmd: typeof CMD_ALL_SUBS_START | typeof CMD_ALL_SUBS_COMPLETE, account: string): string {
  return `INFO ${JSON.stringify({ gateway, gateway_cmd: cmd, gateway_cmd_payload: btoa(account) })}\r\n`;
}

const DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** nats-server's gateway hash of a name: SHA-256, the first 6 bytes mapped onto base-62 digits. */
export async function gatewayHash(name: string): Promise<string> {
  const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(name)));
  let out = "";
  for (let i = 0; i < GW_HASH_LEN; i++) out += DIGITS[sum[i] % DIGITS.length];
  return out;
}

/** Split a mapped reply subject into the origin cluster hash and the original reply. */
export function parseMappedReply(subject: string): { cluster: string; server: string; reply: string } | undefined {
  if (!subject.startsWith(GW_REPLY_PREFIX) || subject.length <= GW_REPLY_HEAD) return undefined;
  const c = GW_REPLY_PREFIX.length;
  const s = c + GW_HASH_LEN + 1;
  if (subject[s - 1] !== "." || subject[GW_REPLY_HEAD - 1] !== ".") return undefined;
  return { cluster: subject.slice(c, c + GW_HASH_LEN), server: subject.slice(s, s + GW_HASH_LEN), reply: subject.slice(GW_REPLY_HEAD) };
}

/** Gateway URLs as configured (`nats://[user:pass@]host:port`, or bare `host:port` as INFO carries them). */
export interface GatewayUrl {
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** host:port, the key nats-server lists URLs by. */
  key: string;
}

export function parseGatewayUrl(text: string): GatewayUrl | undefined {
  const raw = text.trim();
  let u: URL;
  try {
    u = new URL(raw.includes("://") ? raw : `nats://${raw}`);
  } catch {
    return undefined;
  }
  let host = u.hostname;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const port = u.port === "" ? 7222 : Number(u.port);
  if (host === "" || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  const out: GatewayUrl = { host, port, key: host.includes(":") ? `[${host}]:${port}` : `${host}:${port}` };
  if (u.username !== "") out.user = decodeURIComponent(u.username);
  if (u.password !== "") out.password = decodeURIComponent(u.password);
  return out;
}
