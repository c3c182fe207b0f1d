/**
 * The meta group's replicated state: which streams exist, with which config and on which servers. Every
 * JetStream server of the cluster applies the same commands in the same order (`apply`), so every server
 * knows every assignment; the meta leader proposes them.
 */
import type { StreamConfig } from "../config.ts";

export interface StreamAssignment {
  /** The account owning the stream (absent: `$G`, as in logs written before every account was replicated). */
  readonly account?: string;
  readonly name: string;
  readonly config: StreamConfig;
  readonly created: string;
  /** Servers holding a replica, by server name; the first is the preferred first leader. */
  readonly peers: readonly string[];
  /** The Raft group's id (unique per incarnation of the stream: a re-created stream gets a fresh group). */
  readonly group: string;
  /** Where the create/update response goes (answered by the stream's first leader). */
  readonly reply?: string;
  /** Meta leader's clock when proposed (ms): a replayed assignment does not answer a long-gone request. */
  readonly ts: number;
  /**
   * The Raft group's first voters, once its peers changed (a peer-remove): the start of its log assumes them,
   * so a replica that joins later starts from them too and learns the rest from the log.
   */
  readonly founders?: readonly string[];
  /** The cluster its replicas are placed in (superclusters: replacements and new replicas stay there). */
  readonly cluster?: string;
  /** A placement move in progress (moves.ts): the servers it goes to; `peers` holds old and new meanwhile. */
  readonly moveTo?: readonly string[];
}

export type MetaCmd =
  | { readonly op: "stream"; readonly a: StreamAssignment }
  | {
    readonly op: "update";
    readonly account?: string;
    readonly name: string;
    readonly config: StreamConfig;
    readonly reply?: string;
    readonly ts: number;
    /** `reply` is in the system account (an operator's request: a move's cancel), not the stream's. */
    readonly sys?: true;
  }
  | { readonly op: "delete"; readonly account?: string; readonly name: string; readonly reply?: string; readonly ts: number }
  /** `$JS.API.SERVER.REMOVE`: the server is out of the meta group for good (every meta leader knows it). */
  | { readonly op: "removeServer"; readonly server: string; readonly ts: number }
  | {
    readonly op: "peers";
    readonly account?: string;
    readonly name: string;
    readonly peers: readonly string[];
    readonly ts: number;
    /** Starts a placement move (the new servers), or, absent, ends one. */
    readonly moveTo?: readonly string[];
    /** The cluster the stream is placed in from now on (a move to another cluster). */
    readonly cluster?: string;
  };

/** The account of an assignment or command (`$G` when it names none). */
export function accountOf(x: { readonly account?: string }): string {
  return x.account ?? "$G";
}

/**
 * The key of a stream across accounts: `$G`'s streams keep their bare name (so code and logs from before
 * per-account replication still find them); another account's is `<account> <name>` (a stream name has no
 * spaces, so the last space splits it).
 */
export function streamKey(account: string, name: string): string {
  return account === "$G" ? name : `${account} ${name}`;
}

/** The account of a `streamKey`. */
export function accountOfKey(key: string): string {
  const i = key.lastIndexOf(" ");
  return i < 0 ? "$G" : key.slice(0, i);
}

/** The key of an assignment or command. */
export function keyOf(x: { readonly account?: string; readonly name: string }): string {
  return streamKey(accountOf(x), x.name);
}

/** What an applied command changed, for the server to act on (open, reconfigure or drop a replica). */
export type MetaChange =
  | { readonly kind: "added"; readonly a: StreamAssignment }
  | { readonly kind: "updated"; readonly a: StreamAssignment; readonly reply?: string; readonly ts: number; readonly sys?: true }
  | { readonly kind: "removed"; readonly a: StreamAssignment; readonly reply?: string; readonly ts: number }
  | { readonly kind: "peers"; readonly a: StreamAssignment; readonly prev: StreamAssignment }
  | { readonly kind: "none" };

export class MetaState {
  /** Assignments by `keyOf` (account and stream name). */
  readonly streams = new Map<string, StreamAssignment>();
  /** Servers removed by SERVER.REMOVE: not brought back into the meta group when they say hello again. */
  readonly removedServers = new Set<string>();

  apply(cmd: MetaCmd): MetaChange {
    switch (cmd.op) {
      case "stream": {
        if (this.streams.has(keyOf(cmd.a))) return { kind: "none" };
        this.streams.set(keyOf(cmd.a), cmd.a);
        return { kind: "added", a: cmd.a };
      }
      case "update": {
        const a = this.streams.get(keyOf(cmd));
        if (!a) return { kind: "none" };
        const next: StreamAssignment = { ...a, config: cmd.config };
        this.streams.set(keyOf(cmd), next);
        return { kind: "updated", a: next, reply: cmd.reply, ts: cmd.ts, ...(cmd.sys ? { sys: true as const } : {}) };
      }
      case "peers": {
        const a = this.streams.get(keyOf(cmd));
        if (!a) return { kind: "none" };
        const next: StreamAssignment = {
          ...a,
          peers: [...cmd.peers],
          founders: a.founders ?? a.peers,
          moveTo: cmd.moveTo ? [...cmd.moveTo] : undefined,
          cluster: cmd.cluster ?? a.cluster,
        };
        this.streams.set(keyOf(cmd), next);
        return { kind: "peers", a: next, prev: a };
      }
      case "removeServer":
        this.removedServers.add(cmd.server);
        return { kind: "none" };
      case "delete": {
        const a = this.streams.get(keyOf(cmd));
        if (!a) return { kind: "none" };
        this.streams.delete(keyOf(cmd));
        return { kind: "removed", a, reply: cmd.reply, ts: cmd.ts };
      }
    }
  }

  /** The assignments of one account. */
  *ofAccount(account: string): Iterable<StreamAssignment> {
    for (const a of this.streams.values()) if (accountOf(a) === account) yield a;
  }

  /** How many replicas each server holds (placement spreads the load). */
  load(): Map<string, number> {
    const out = new Map<string, number>();
    for (const a of this.streams.values()) for (const p of a.peers) out.set(p, (out.get(p) ?? 0) + 1);
    return out;
  }

  encode(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ streams: [...this.streams.values()], removed: [...this.removedServers] }));
  }

  restore(b: Uint8Array): void {
    this.streams.clear();
    this.removedServers.clear();
    const v = JSON.parse(new TextDecoder().decode(b)) as StreamAssignment[] | { streams: StreamAssignment[]; removed?: string[] };
    // Snapshots written before the removed servers were kept are a bare list of assignments.
    const streams = Array.isArray(v) ? v : v.streams;
    for (const a of streams) this.streams.set(keyOf(a), a);
    if (!Array.isArray(v)) for (const s of v.removed ?? []) this.removedServers.add(s);
  }
}

export function encodeMeta(c: MetaCmd): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c));
}

export function decodeMeta(b: Uint8Array): MetaCmd | Error {
  try {
    return JSON.parse(new TextDecoder().decode(b)) as MetaCmd;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}
