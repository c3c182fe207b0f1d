import { type MsgMeta, msgSize, type StorageProvider, type StoredMsg, type StreamBackend } from "./types.ts";

/** Messages kept in a Map: the store for `storage: memory` streams and for tests. */
export class MemoryBackend implements StreamBackend {
  private readonly msgs = new Map<number, StoredMsg>();

  append(msg: StoredMsg): void {
    // Kept for the stream's life: an object and bytes of its own. What append is given lives for the call only (a
    // stream's capture hands over the router's views of a read buffer, StreamBackend.append), and a view would pin
    // a larger buffer.
    this.msgs.set(msg.seq, { seq: msg.seq, subject: msg.subject, headers: msg.headers?.slice(), data: msg.data.slice(), time: msg.time });
  }
  load(seq: number): StoredMsg | undefined {
    return this.msgs.get(seq);
  }
  remove(seqs: number[]): void {
    for (const s of seqs) this.msgs.delete(s);
  }
  scan(): MsgMeta[] {
    const out: MsgMeta[] = [];
    for (const m of this.msgs.values()) {
      out.push({
        seq: m.seq,
        subject: m.subject,
        size: msgSize(m.subject, m.headers, m.data),
        time: m.time,
        hdr: m.headers?.length ?? 0,
      });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }
  flush(): void {}
  sync(): void {}
  close(): void {}
}

export class MemoryStorage implements StorageProvider {
  readonly kind = "memory" as const;
  private readonly streams = new Map<string, MemoryBackend>();
  private readonly meta = new Map<string, Map<string, string>>();

  openStream(name: string): StreamBackend {
    let b = this.streams.get(name);
    if (!b) {
      b = new MemoryBackend();
      this.streams.set(name, b);
    }
    return b;
  }
  dropStream(name: string): void {
    this.streams.delete(name);
    this.meta.delete(name);
  }
  streamNames(): string[] {
    return [...this.meta.entries()].filter(([, m]) => m.has("config")).map(([n]) => n).sort();
  }
  getMeta(stream: string, key: string): string | undefined {
    return this.meta.get(stream)?.get(key);
  }
  putMeta(stream: string, key: string, value: string): void {
    let m = this.meta.get(stream);
    if (!m) {
      m = new Map();
      this.meta.set(stream, m);
    }
    m.set(key, value);
  }
  deleteMeta(stream: string, key: string): void {
    this.meta.get(stream)?.delete(key);
  }
  listMeta(stream: string, prefix: string): Array<[string, string]> {
    const m = this.meta.get(stream);
    if (!m) return [];
    return [...m.entries()].filter(([k]) => k.startsWith(prefix)).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }
  sync(): void {}
  close(): void {}
}
