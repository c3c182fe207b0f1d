/** The CONNECT options a client sends, validated with zod; unknown fields are kept and ignored. */
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

export function parseConnect(json: string): ConnectOptions | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  const r = ConnectSchema.safeParse(raw);
  return r.success ? r.data : undefined;
}
