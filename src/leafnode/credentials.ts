/**
 * A NATS credentials file (`nsc` writes them): the user JWT and the user's nkey seed between BEGIN/END
 * markers. A leaf presents the JWT and proves it holds the seed by signing the hub's INFO nonce.
 */
import { fromSeed } from "@nats-io/nkeys";

export interface Credentials {
  jwt: string;
  seed: string;
}

/** The first JWT and the first seed in the file, or undefined when either is missing. */
export function parseCredentials(text: string): Credentials | undefined {
  const blocks = [...text.matchAll(/-{3,}[^\n]*BEGIN[^\n]*-{3,}\s*\n([\s\S]*?)\n\s*-{3,}[^\n]*END[^\n]*-{3,}/g)].map((m) => m[1].trim());
  const jwt = blocks.find((b) => b.startsWith("ey"));
  const seed = blocks.find((b) => b.startsWith("SU"));
  if (jwt === undefined || seed === undefined) return undefined;
  return { jwt, seed };
}

/** The nonce signed with the seed, base64url without padding (what nats-server verifies). */
export function signNonce(seed: string, nonce: string): string {
  const sig = fromSeed(new TextEncoder().encode(seed)).sign(new TextEncoder().encode(nonce));
  let bin = "";
  for (const b of sig) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
