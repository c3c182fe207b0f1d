/**
 * The CONNECT options a client sends, as a zod schema: the source of the `ConnectOptions` type and the reference
 * the hand-written check in connect.ts is tested against (test/server/connect_parse.test.ts). Not loaded by the
 * server: parsing CONNECT must not pull zod into a server that has nothing else to validate.
 */
import { z } from "zod";

export const ConnectSchema = z.looseObject({
  verbose: z.boolean().optional(),
  pedantic: z.boolean().optional(),
  echo: z.boolean().optional(),
  headers: z.boolean().optional(),
  no_responders: z.boolean().optional(),
  tls_required: z.boolean().optional(),
  user: z.string().optional(),
  pass: z.string().optional(),
  auth_token: z.string().optional(),
  name: z.string().optional(),
  lang: z.string().optional(),
  version: z.string().optional(),
  protocol: z.number().optional(),
  jwt: z.string().optional(),
  nkey: z.string().optional(),
  sig: z.string().optional(),
});

export type ConnectOptions = z.infer<typeof ConnectSchema>;
