/**
 * A small replicated key-value state machine: the client-facing proof that the log gives a linearizable
 * service. Commands are JSON; reads go through the log too, which is what makes them linearizable.
 */
import type { Entry } from "../types.ts";

export type KvCommand =
  | { readonly id: string; readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly id: string; readonly op: "get"; readonly key: string }
  | {
    readonly id: string;
    readonly op: "cas";
    readonly key: string;
    readonly expect: string | null;
    readonly value: string;
  };

export interface KvResult {
  readonly id: string;
  /** get: the value read; put: the value written; cas: the value after the operation. */
  readonly value: string | null;
  /** cas: whether the swap happened; true otherwise. */
  readonly ok: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeKvCommand(cmd: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(cmd));
}

export function decodeKvCommand(data: Uint8Array): KvCommand | null {
  try {
    const v: unknown = JSON.parse(dec.decode(data));
    if (typeof v !== "object" || v === null || !("op" in v) || !("key" in v) || !("id" in v)) return null;
    return v as KvCommand;
  } catch {
    return null;
  }
}

export class KvStateMachine {
  #data = new Map<string, string>();
  applied = 0;

  get(key: string): string | null {
    return this.#data.get(key) ?? null;
  }

  /** Apply one committed entry; returns the command's result, or null for non-command entries. */
  apply(entry: Entry): KvResult | null {
    this.applied = entry.index;
    if (entry.kind !== "cmd") return null;
    const cmd = decodeKvCommand(entry.data);
    if (!cmd) return null;
    switch (cmd.op) {
      case "get":
        return { id: cmd.id, value: this.get(cmd.key), ok: true };
      case "put":
        this.#data.set(cmd.key, cmd.value);
        return { id: cmd.id, value: cmd.value, ok: true };
      case "cas": {
        const ok = this.get(cmd.key) === cmd.expect;
        if (ok) this.#data.set(cmd.key, cmd.value);
        return { id: cmd.id, value: this.get(cmd.key), ok };
      }
    }
  }

  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify([...this.#data]));
  }

  restore(data: Uint8Array, index: number): void {
    const pairs = data.length === 0 ? [] : JSON.parse(dec.decode(data)) as [string, string][];
    this.#data = new Map(pairs);
    this.applied = index;
  }
}
