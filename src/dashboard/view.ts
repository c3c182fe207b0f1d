/**
 * What one dashboard viewer is looking at (tab, account, search, sort, page), parsed from the query of its
 * event stream. The server filters, sorts and pages for the viewer, so a page with 1,000 connections or 200
 * streams only ever carries the rows on screen.
 */
import { z } from "zod";

export const TABS = ["overview", "connections", "subscriptions", "jetstream", "browser"] as const;

const int = (min: number, max: number, dflt: number) =>
  z.preprocess(
    (v) => (v === undefined || v === "" ? dflt : Number(v)),
    z.number().int().min(min).max(max),
  );

export const ViewSchema = z.object({
  tab: z.enum(TABS).default("overview"),
  /** Account filter; "" is every account. */
  acc: z.string().max(256).default(""),
  /** Case-insensitive substring search over the rows' names, addresses and subjects. */
  q: z.string().max(256).default(""),
  /** Column to sort by; unknown columns fall back to the tab's default. */
  sort: z.string().max(64).default(""),
  dir: z.enum(["asc", "desc"]).default("desc"),
  offset: int(0, 1_000_000, 0),
  limit: int(1, 500, 50),
});

export type View = z.infer<typeof ViewSchema>;

/** Parses a viewer's query; a bad value is an error that names it. */
export function parseView(q: URLSearchParams): { ok: true; view: View } | { ok: false; error: string } {
  const raw: Record<string, string> = {};
  for (const k of Object.keys(ViewSchema.shape)) {
    const v = q.get(k);
    if (v !== null) raw[k] = v;
  }
  const r = ViewSchema.safeParse(raw);
  if (r.success) return { ok: true, view: r.data };
  const issue = r.error.issues[0];
  return { ok: false, error: `invalid dashboard view parameter ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? ""}` };
}
