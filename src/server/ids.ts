/** Server identities in nats-server's shape: 56 base32 characters starting with N (an nkey public key). */
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function randomServerId(): string {
  const bytes = new Uint8Array(55);
  crypto.getRandomValues(bytes);
  let s = "N";
  for (const b of bytes) s += B32[b & 31];
  return s;
}

/** A short random token for inbox-like names. */
export function randomToken(len = 22): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const bytes = new Uint8Array(len);
  crypto.getRandomValues(bytes);
  let s = "";
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}
