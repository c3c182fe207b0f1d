// The route INFO and CONNECT are checked by hand (src/cluster/protocol.ts) so that a cluster node loads no zod. This
// compares the hand checks with zod schemas of the shape they replaced, on generated JSON: the same texts are
// accepted and give the same objects.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { parseRouteConnect, parseRouteInfo, ROUTE_CONNECT_KEYS, ROUTE_INFO_KEYS } from "../../src/cluster/protocol.ts";

const infoSchema = z.looseObject({
  server_id: z.string().min(1),
  server_name: z.string().optional(),
  version: z.string().optional(),
  host: z.string().optional(),
  port: z.number().int().optional(),
  headers: z.boolean().optional(),
  auth_required: z.boolean().optional(),
  cluster: z.string().optional(),
  cluster_dynamic: z.boolean().optional(),
  connect_urls: z.array(z.string()).optional(),
  ws_connect_urls: z.array(z.string()).optional(),
  ip: z.string().optional(),
  lnoc: z.boolean().optional(),
  nonce: z.string().optional(),
});
const connectSchema = z.looseObject({
  echo: z.boolean().optional(),
  verbose: z.boolean().optional(),
  pedantic: z.boolean().optional(),
  user: z.string().optional(),
  pass: z.string().optional(),
  auth_token: z.string().optional(),
  tls_required: z.boolean().optional(),
  headers: z.boolean().optional(),
  name: z.string().optional(),
  cluster: z.string().optional(),
  dynamic: z.boolean().optional(),
  lnoc: z.boolean().optional(),
});

/** Deterministic pseudo-random numbers (xorshift). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const VALUES: unknown[] = ["", "a", "nats://h:1", 0, 1, -3, 4222, 1.5, 2 ** 53 + 2, 2 ** 60, true, false, null, [], ["x", "y"], ["x", 1], [null], {}, { a: 1 }];

function sample(keys: readonly string[], r: () => number): string {
  const pick = r();
  if (pick < 0.03) return "not json";
  if (pick < 0.06) return JSON.stringify(VALUES[Math.floor(r() * VALUES.length)]);
  const o: Record<string, unknown> = {};
  for (const k of [...keys, "unknown_key", "extra"]) {
    if (r() < 0.5) continue;
    // Mostly a value of the right kind (so that whole objects pass often), otherwise anything.
    o[k] = r() < 0.7 ? rightKind(k, r) : VALUES[Math.floor(r() * VALUES.length)];
  }
  return JSON.stringify(o);
}

function rightKind(k: string, r: () => number): unknown {
  const kind = ROUTE_INFO_KEYS[k] ?? ROUTE_CONNECT_KEYS[k];
  switch (kind) {
    case "string":
      return r() < 0.1 ? "" : `v${Math.floor(r() * 100)}`;
    case "boolean":
      return r() < 0.5;
    case "int":
      return Math.floor(r() * 65536);
    case "strings":
      return ["nats://a:1", "nats://b:2"].slice(0, Math.floor(r() * 3));
    default:
      return { nested: true };
  }
}

function same(text: string, hand: unknown, schema: z.ZodType): void {
  let json: unknown;
  let ok = true;
  try {
    json = JSON.parse(text);
  } catch {
    ok = false;
  }
  const r = ok ? schema.safeParse(json) : { success: false as const };
  assert.equal(hand !== undefined, r.success, `accepted differently: ${text}`);
  if (r.success) assert.deepEqual({ ...(hand as object) }, { ...(r.data as object) }, `parsed differently: ${text}`);
}

describe("route INFO and CONNECT checks (no zod)", () => {
  it("accept and give what zod schemas of the same shape did, on 3,000 generated texts each", () => {
    const r = rng(14);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const info = sample(Object.keys(ROUTE_INFO_KEYS), r);
      const hi = parseRouteInfo(info);
      same(info, hi, infoSchema);
      const connect = sample(Object.keys(ROUTE_CONNECT_KEYS), r);
      const hc = parseRouteConnect(connect);
      same(connect, hc, connectSchema);
      if (hi !== undefined) accepted++;
      if (hc !== undefined) accepted++;
    }
    assert.ok(accepted > 300, `the generator makes valid messages too (${accepted} accepted)`);
  });
  it("refuses what nats-server's peers never send: a missing or empty server_id, null for a key, a fractional port", () => {
    assert.equal(parseRouteInfo(`{"server_name":"a"}`), undefined);
    assert.equal(parseRouteInfo(`{"server_id":""}`), undefined);
    assert.equal(parseRouteInfo(`{"server_id":"S","server_name":null}`), undefined);
    assert.equal(parseRouteInfo(`{"server_id":"S","port":1.5}`), undefined);
    assert.equal(parseRouteConnect(`[]`), undefined);
    assert.deepEqual(parseRouteInfo(`{"server_id":"S","port":6222,"other":{"x":1}}`), { server_id: "S", port: 6222, other: { x: 1 } });
  });
});
