/**
 * Server identities in nats-server's shape: 56 base32 characters starting with N (an nkey public key).
 * Indexed loops, not for-of: a typed array's for-of runs the iterator's `next` per byte, and 55 of them at every
 * start get it compiled by Bun's baseline JIT, whose code then stays resident (+1 MB idle; see test/footprint).
 */
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function randomServerId(): string {
  const bytes = new Uint8Array(55);
  crypto.getRandomValues(bytes);
  let s = "N";
  for (let i = 0; i < bytes.length; i++) s += B32[bytes[i] & 31];
  return s;
}

/** A short random token for inbox-like names. */
export function randomToken(len = 22): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const bytes = new Uint8Array(len);
  crypto.getRandomValues(bytes);
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += alphabet[bytes[i] % alphabet.length];
  return s;
}
