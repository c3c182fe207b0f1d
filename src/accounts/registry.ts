/**
 * The server's accounts by name. `$G` (the global account, for clients of a server without accounts) and
 * the system account (`$SYS`, or `system_account`) always exist; configured accounts are created at start;
 * `ensure` creates one on demand (a peer server naming an account this server was configured with).
 */
import { Account, type AccountHooks } from "./account.ts";

// Made on first use: a TextDecoder built at load brings ~0.3 MB of Bun's code in on every start (bench/RESULTS.md,
// "bunidle, 2026-12-07"), and a plain start decodes nothing.
let decoder: TextDecoder | undefined;
const dec = { decode: (b: Uint8Array): string => (decoder ??= new TextDecoder()).decode(b) };

export const GLOBAL_ACCOUNT = "$G";
export const DEFAULT_SYSTEM_ACCOUNT = "$SYS";

export class AccountRegistry implements Iterable<Account> {
  readonly #accounts = new Map<string, Account>();
  readonly #hooks: AccountHooks;
  readonly global: Account;
  #system: Account;
  /** Told of every account created after start-up (operator mode creates them as users sign in). */
  readonly createdListeners = new Set<(a: Account) => void>();

  constructor(hooks: AccountHooks, names: Iterable<string> = [], systemAccount = DEFAULT_SYSTEM_ACCOUNT) {
    this.#hooks = hooks;
    this.global = this.ensure(GLOBAL_ACCOUNT);
    for (const n of names) this.ensure(n);
    this.#system = this.ensure(systemAccount);
  }

  /** The system account (`$SYS` unless `system_account` names another). */
  get system(): Account {
    return this.#system;
  }

  get(name: string): Account | undefined {
    return this.#accounts.get(name);
  }

  /** Same as get: the account if this server knows it. */
  lookup(name: string): Account | undefined {
    return this.#accounts.get(name);
  }

  /** The account of that name, created if it does not exist yet. */
  ensure(name: string): Account {
    let a = this.#accounts.get(name);
    if (a === undefined) {
      if (name === "") throw new Error("invariant: an account needs a name");
      a = new Account(name, this.#hooks);
      this.#accounts.set(name, a);
      for (const l of this.createdListeners) l(a);
    }
    return a;
  }

  /**
   * The account whose name is these bytes (a route frame's account field), without decoding in the common
   * case: the last account found is checked first.
   */
  byBytes(line: Uint8Array, start: number, end: number): Account | undefined {
    const last = this.#last;
    if (last !== undefined && sameBytes(last.nameBytes, line, start, end)) return last;
    const a = this.#accounts.get(dec.decode(line.subarray(start, end)));
    if (a !== undefined) this.#last = a;
    return a;
  }

  #last: Account | undefined;

  get size(): number {
    return this.#accounts.size;
  }

  names(): string[] {
    return [...this.#accounts.keys()];
  }

  [Symbol.iterator](): Iterator<Account> {
    return this.#accounts.values();
  }
}

function sameBytes(name: Uint8Array, line: Uint8Array, start: number, end: number): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (name[i] !== line[start + i]) return false;
  return true;
}
