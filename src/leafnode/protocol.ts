/**
 * The leafnode protocol as nats-server 2.9 writes it: the INFO a hub sends, the CONNECT a leaf answers,
 * interest as `LS+ subject [queue weight]` / `LS- subject [queue]`, and messages as
 * `LMSG subject [+ reply q1 q2 | | q1 q2 | reply] size` (HMSG with the header size before the total).
 * The account is bound to the connection, so unlike routes no account name appears on the wire.
 */
import { z } from "zod";
import { parseJsonAs, writeMsgFrame } from "../cluster/protocol.ts";
import type { OutBuffer } from "../server/outbound.ts";

const leafInfoSchema = z.looseObject({
  server_id: z.string().min(1),
  server_name: z.string().optional(),
  version: z.string().optional(),
  headers: z.boolean().optional(),
  auth_required: z.boolean().optional(),
  tls_required: z.boolean().optional(),
  nonce: z.string().optional(),
  leafnode_urls: z.array(z.string()).optional(),
  cluster: z.string().optional(),
});
export type LeafInfo = z.infer<typeof leafInfoSchema>;

const leafConnectSchema = z.looseObject({
  server_id: z.string().optional(),
  name: z.string().optional(),
  version: z.string().optional(),
  headers: z.boolean().optional(),
  cluster: z.string().optional(),
  is_hub: z.boolean().optional(),
  user: z.string().optional(),
  pass: z.string().optional(),
  auth_token: z.string().optional(),
  /** Credentials-file sign-in (operator mode): the user JWT and the nonce signed with its seed. */
  jwt: z.string().optional(),
  sig: z.string().optional(),
  /** Only client libraries send it: a client dialed the leafnode port. */
  lang: z.string().optional(),
});
export type LeafConnect = z.infer<typeof leafConnectSchema>;

export function parseLeafInfo(text: string): LeafInfo | undefined {
  return parseJsonAs(leafInfoSchema, text);
}

export function parseLeafConnect(text: string): LeafConnect | undefined {
  return parseJsonAs(leafConnectSchema, text);
}

/** Loop detection: every server announces interest in `$LDS.<its id>`; seeing our own come back is a cycle. */
export const LDS_PREFIX = "$LDS.";

/** `LS+ subject [queue weight]` / `LS- subject [queue]`. */
export function leafInterestLine(added: boolean, subject: string, queue: string | undefined, weight: number): string {
  if (!added) return queue === undefined ? `LS- ${subject}\r\n` : `LS- ${subject} ${queue}\r\n`;
  return queue === undefined ? `LS+ ${subject}\r\n` : `LS+ ${subject} ${queue} ${weight}\r\n`;
}

/** Append one message frame for a leafnode peer; returns the frame's start offset. */
export function writeLeafMsg(
  out: OutBuffer,
  subject: Uint8Array,
  reply: Uint8Array | null,
  queues: readonly Uint8Array[],
  hdrSize: number,
  payload: Uint8Array,
  _account?: Uint8Array,
  payloadStart = 0,
  payloadEnd: number = payload.length,
): number {
  return writeMsgFrame(out, 76, null, subject, reply, queues, hdrSize, payload, payloadStart, payloadEnd);
}
