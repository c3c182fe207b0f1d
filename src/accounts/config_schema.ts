/**
 * The zod schema of the runtime's narrow view of `options.accounts` (see config.ts), loaded on demand (only
 * when accounts are configured) so that an idle server started from flags loads no zod.
 */
import { z } from "zod";

const ruleSchema = z.looseObject({ allow: z.array(z.string()).optional(), deny: z.array(z.string()).optional() });
const permissionsSchema = z.looseObject({ publish: ruleSchema.optional(), subscribe: ruleSchema.optional() });

const userSchema = z.looseObject({
  user: z.string().optional(),
  password: z.string().optional(),
  nkey: z.string().optional(),
  permissions: permissionsSchema.optional(),
});

const exportSchema = z.looseObject({
  stream: z.string().optional(),
  service: z.string().optional(),
  accounts: z.array(z.string()).optional(),
  response_type: z.enum(["singleton", "stream", "chunked"]).optional(),
  response_threshold: z.number().optional(),
});

const importSchema = z.looseObject({
  stream: z.looseObject({ account: z.string(), subject: z.string() }).optional(),
  service: z.looseObject({ account: z.string(), subject: z.string() }).optional(),
  prefix: z.string().optional(),
  to: z.string().optional(),
});

export const accountSchema = z.looseObject({
  users: z.array(userSchema).optional(),
  exports: z.array(exportSchema).optional(),
  imports: z.array(importSchema).optional(),
});

export type AccountUserConfig = z.infer<typeof userSchema>;
export type AccountExportConfig = z.infer<typeof exportSchema>;
export type AccountImportConfig = z.infer<typeof importSchema>;
export type AccountConfig = z.infer<typeof accountSchema>;

