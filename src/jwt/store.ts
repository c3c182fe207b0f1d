/**
 * Where the full resolver keeps account JWTs between restarts: one file per account, `<dir>/<public key>.jwt`,
 * as nats-server's directory store lays them out. The runtime provides it (adapters/jwt_dir_store.ts).
 */
export interface JwtStore {
  /** Every stored account JWT by public key (an empty or missing directory gives none). */
  load(): Record<string, string>;
  /** Keep an account's JWT (replacing the previous one). Throws on an I/O error. */
  save(account: string, jwt: string): void;
}
