/**
 * JetStream on a server with accounts: one engine (engine.ts) per JetStream-enabled account, keyed by account
 * name, each with its own bus (an internal client bound to that account), its own storage (nats-server's layout,
 * `<store_dir>/jetstream/<account>/streams/...`) and its own limits. Accounts without JetStream get the
 * "not enabled for account" responder (disabled.ts) on their `$JS.API`.
 *
 * How the pieces are made is the host's business (the server extension in adapters/ opens storage and creates
 * internal clients; tests pass in-process buses), so this file stays runtime-free. Replicated JetStream builds on
 * the same map: every JetStream-enabled account's engine is plugged into the one cluster controller with its
 * account (cluster/controller.ts `forAccount`); limits are checked there against the account's assignments.
 */
import { serveDisabledAccount } from "./disabled.ts";
import { JetStream } from "./engine.ts";
import { type AccountJetStreamConfig, type AccountLimits, limitsFromConfig, UNLIMITED } from "./limits.ts";
import type { StorageProvider } from "./store/types.ts";
import type { EngineOptions, JsBus } from "./types.ts";

/** A bus the host can take back (the account's internal client). */
export interface AccountBus extends JsBus {
  close(): void;
}

/** What the server gives JetStream for one account. */
export interface JetStreamHost {
  /**
   * A bus bound to `account`: subscriptions and publishes stay in its subject space. `local`: its subscriptions
   * stay on this server even in a cluster (a refusal answers this server's own clients; every server has one).
   */
  busFor(account: string, opts?: { local?: boolean }): AccountBus;
  /** The account's storage (opened lazily; closed by the host after `stop`). */
  storageFor(account: string): StorageProvider;
  /** Called with a new engine before it starts (replicated JetStream plugs in here). */
  prepare?(account: string, engine: JetStream): void;
}

/** Which accounts have JetStream, and with what limits. */
export interface AccountPlan {
  /** Enabled accounts and their limits. */
  enabled: Map<string, AccountLimits>;
  /** Accounts that exist but have no JetStream (they get 10039 answers). */
  disabled: string[];
  /** Per disabled account, the local subjects of its service imports (not refused: the exporter answers). */
  imported?: Map<string, string[]>;
}

/**
 * nats-server's rule: without configured accounts (other than the system account), `$G` has the server's
 * JetStream; with them, exactly the accounts whose config has a `jetstream` entry do.
 */
export function planAccounts(
  accounts: Record<string, PlannedAccount> | undefined,
  systemAccount?: string,
): AccountPlan {
  const imported = new Map<string, string[]>();
  for (const [n, a] of Object.entries(accounts ?? {})) {
    const subjects = (a.imports ?? []).flatMap((i) => (i.service ? [i.to ?? i.service.subject] : []));
    if (subjects.length > 0) imported.set(n, subjects);
  }
  const names = Object.keys(accounts ?? {}).filter((n) => n !== systemAccount);
  if (names.length === 0) {
    return { enabled: new Map([["$G", UNLIMITED]]), disabled: [], imported };
  }
  const enabled = new Map<string, AccountLimits>();
  const disabled: string[] = [];
  for (const n of names) {
    const js = accounts?.[n]?.jetstream;
    if (js) enabled.set(n, limitsFromConfig(js));
    else disabled.push(n);
  }
  if (!enabled.has("$G")) disabled.push("$G");
  return { enabled, disabled, imported };
}

/** What planning reads of an account's configuration. */
export interface PlannedAccount {
  jetstream?: AccountJetStreamConfig;
  imports?: ReadonlyArray<{ service?: { subject: string }; stream?: unknown; to?: string }>;
}

export class JetStreamAccounts {
  /** account name -> its engine */
  readonly engines = new Map<string, JetStream>();
  private readonly buses = new Map<string, AccountBus>();
  private readonly refusals = new Map<string, () => void>();

  /** `opts` are the server-wide options; `account`, `limits` and `reservedElsewhere` are set per account. */
  constructor(private readonly host: JetStreamHost, readonly opts: EngineOptions) {}

  /** Starts the engine of `account` (loading its stored streams) and serves its `$JS.API`. */
  enable(account: string, limits: AccountLimits): JetStream {
    if (this.engines.has(account)) throw new Error(`jetstream: account ${account} is already enabled`);
    this.refusals.get(account)?.();
    this.refusals.delete(account);
    const bus = this.host.busFor(account);
    this.buses.set(account, bus);
    const engine = new JetStream(bus, {
      ...this.opts,
      account,
      limits,
      reservedElsewhere: (memory) => this.reservedExcept(account, memory),
    }, this.host.storageFor(account));
    this.engines.set(account, engine);
    this.host.prepare?.(account, engine);
    engine.start();
    return engine;
  }

  /**
   * Answers `account`'s `$JS.API` with nats-server's "not enabled for account", except on the subjects it
   * imports as services (`imported`, the local subjects): another account's JetStream answers those.
   */
  refuse(account: string, imported: readonly string[] = []): void {
    if (this.engines.has(account) || this.refusals.has(account)) return;
    const bus = this.host.busFor(account, { local: true });
    const stop = serveDisabledAccount(bus, imported);
    this.refusals.set(account, () => {
      stop();
      bus.close();
    });
  }

  /** Applies a plan: enabled accounts get engines, the others the refusal. */
  startAll(plan: AccountPlan): void {
    for (const [name, limits] of plan.enabled) this.enable(name, limits);
    for (const name of plan.disabled) this.refuse(name, plan.imported?.get(name));
  }

  /**
   * A reloaded configuration, as nats-server applies `accounts` on reload: enabled accounts take their new
   * limits (existing streams stay; the next create, consumer or publish is checked against them), newly enabled
   * ones start and load their stored streams, new accounts without JetStream are refused. An account that loses
   * JetStream keeps serving until restart (in a cluster its replicas belong to Raft groups; stopping the engine
   * under them would strand them).
   */
  apply(plan: AccountPlan): void {
    for (const [name, limits] of plan.enabled) {
      const e = this.engines.get(name);
      if (e) e.limits = limits;
      else this.enable(name, limits);
    }
    for (const name of plan.disabled) this.refuse(name, plan.imported?.get(name));
  }

  get(account: string): JetStream | undefined {
    return this.engines.get(account);
  }

  private reservedExcept(account: string, memory: boolean): number {
    let n = 0;
    for (const [name, e] of this.engines) if (name !== account) n += e.reserved(memory);
    return n;
  }

  /** Stops every engine (flushing their state) and closes the buses; storage is the host's to close. */
  stop(): void {
    for (const e of this.engines.values()) e.stop();
    for (const b of this.buses.values()) b.close();
    for (const r of this.refusals.values()) r();
    this.engines.clear();
    this.buses.clear();
    this.refusals.clear();
  }
}
