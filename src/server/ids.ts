/**
 * Server identities in nats-server's shape: 56 base32 characters starting with N (an nkey public key).
 * Indexed loops, not for-of: a typed array's for-of runs the iterator's `next` per byte, and 55 of them at every
 * start get it compiled by Bun's baseline JIT, whose code then stays resident (+1 MB idle; see test/footprint).
 */
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/**
 * A fresh server ID. Drawn from `Math.random`, not `crypto.getRandomValues`: the ID is public (every INFO carries
 * it) and only has to be unique, which the runtime's generator gives (seeded from the OS's entropy in every
 * process; 55 draws of 5 bits). Nothing secret is drawn from `Math.random` (nonces and tokens use `crypto`), so
 * reading its state back from an ID predicts nothing that matters. The crypto generator's first use costs a Bun
 * start ~0.17 MB of idle RSS (bench/RESULTS.md, `bunidle5`), and a plain start uses it for nothing else.
 */
export function randomServerId(): string {
  let s = "N";
  for (let i = 0; i < 55; i++) s += B32[(Math.random() * 32) | 0];
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
