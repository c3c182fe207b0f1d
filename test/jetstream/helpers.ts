import { MemoryStorage } from "../../src/jetstream/store/memory.ts";
import type { StorageProvider } from "../../src/jetstream/store/types.ts";
import { type JetStream, startJetStream } from "../../src/jetstream/engine.ts";
import { api, TestBus } from "./bus.ts";
import type { BusMsg } from "../../src/jetstream/types.ts";

export { api, TestBus };

export function startEngine(storage: StorageProvider = new MemoryStorage()): { bus: TestBus; js: JetStream } {
  const bus = new TestBus();
  const js = startJetStream(bus, { server_name: "test" }, storage);
  return { bus, js };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export async function pub(
  bus: TestBus,
  subject: string,
  data = "",
  headers?: Uint8Array,
): Promise<Record<string, unknown>> {
  const m = await bus.request(subject, enc.encode(data), headers);
  return JSON.parse(dec.decode(m.payload)) as Record<string, unknown>;
}

export function text(m: BusMsg): string {
  return dec.decode(m.payload);
}
