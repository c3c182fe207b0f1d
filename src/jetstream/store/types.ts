/**
 * The neutral storage contract between the stream engine and the storage adapters (memory, file, SQLite).
 * Backends persist bytes and small metadata records. The message index (per-subject lookups, limits) is a
 * `MsgIndex`: a backend that keeps one of its own on disk (the file store) hands it out through `ownIndex`,
 * so a stream's memory does not grow with what it stores; otherwise the engine keeps a `MemoryIndex`.
 */
import type { MsgIndex } from "./msg_index.ts";

export interface StoredMsg {
  seq: number;
  subject: string;
  /** Raw `NATS/1.0...` header block, if any. */
  headers?: Uint8Array;
  data: Uint8Array;
  /** Store time, milliseconds since the epoch. */
  time: number;
}

/** What the engine keeps in memory for each stored message. */
export interface MsgMeta {
  seq: number;
  subject: string;
  /** Size as nats-server's memory store counts it: subject + headers + data + 16 (see storedSize). */
  size: number;
  time: number;
  /** Header length, reported by scan so the engine can apply the file store's accounting. */
  hdr?: number;
}

/** Messages of one stream. All calls are synchronous so the write path never yields between store and ack. */
export interface StreamBackend {
  /**
   * `msg` and its bytes are valid during the call only (a stream's capture passes the router's views of a read
   * buffer, the stream reuses the object): a backend that keeps them keeps copies.
   */
  append(msg: StoredMsg): void;
  load(seq: number): StoredMsg | undefined;
  remove(seqs: number[]): void;
  /** Metadata of every stored message, ascending by sequence (used once, to rebuild the index on start). */
  scan(): MsgMeta[];
  /**
   * The same as `scan`, one call per message and nothing built per message: what a large store uses so that
   * opening it holds no list of every message. `hdr` is the header length.
   */
  scanEach?(visit: (seq: number, subject: string, size: number, time: number, hdr: number) => void): void;
  /**
   * Hand everything appended or removed so far to the OS (one write for a batch of appends). The engine
   * calls it before it acknowledges what it stored; backends also flush by themselves when a batch grows.
   */
  flush(): void;
  /**
   * The backend's own index of what it stores, kept current by `append` and `remove` (the stream then
   * neither scans the backend on open nor keeps an index of its own). Called once, after opening. Sizes in
   * it are the file store's accounting (storedSize with file = true).
   */
  ownIndex?(): MsgIndex;
  /** Make what was appended durable now (fsync where the backend has a disk). */
  sync(): void;
  /**
   * sync() without holding the caller: `done` runs once everything appended before the call is durable (never
   * earlier). Backends without it are synced in place.
   */
  syncAsync?(done: () => void): void;
  close(): void;
}

export type SyncPolicy = "always" | number;

export interface StorageProvider {
  readonly kind: StorageKind;
  openStream(name: string): StreamBackend;
  /** Deletes a stream's messages and metadata. */
  dropStream(name: string): void;
  /** Names of streams that have a stored `config` metadata record. */
  streamNames(): string[];
  getMeta(stream: string, key: string): string | undefined;
  putMeta(stream: string, key: string, value: string): void;
  deleteMeta(stream: string, key: string): void;
  /** All metadata keys of a stream starting with `prefix`, with their values. */
  listMeta(stream: string, prefix: string): Array<[string, string]>;
  sync(): void;
  close(): void;
}

export type StorageKind = "memory" | "file" | "sqlite";

/**
 * Byte accounting identical to nats-server's, used by max_bytes and every reported byte count:
 * memory store subject + headers + data + 16; file store 30 + subject + data, plus 4 + headers when present.
 */
export function storedSize(subjectLen: number, hdrLen: number, dataLen: number, file: boolean): number {
  if (!file) return subjectLen + hdrLen + dataLen + 16;
  return 30 + subjectLen + dataLen + (hdrLen > 0 ? 4 + hdrLen : 0);
}

/** Memory-store size; backends report this from scan. */
export function msgSize(subject: string, headers: Uint8Array | undefined, data: Uint8Array): number {
  return subject.length + (headers ? headers.length : 0) + data.length + 16;
}
