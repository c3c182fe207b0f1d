/** Public surface of the Raft library (what JetStream clustering and the route transport wire up). */
export type {
  BeatAck,
  BeatItem,
  Entry,
  EntryKind,
  Envelope,
  GroupId,
  Membership,
  Message,
  PeerId,
  RaftTransport,
  Random,
  Snapshot,
  SnapshotMeta,
  WireBatch,
} from "./types.ts";
export type { HardState, RaftStorage, StoredState } from "./storage.ts";
export { EMPTY_HARD_STATE } from "./storage.ts";
export { MemoryStorage } from "./memory_storage.ts";
export {
  type MembershipChange,
  type OutMessage,
  type ProposeError,
  type ProposeResult,
  RaftNode,
  type RaftNodeConfig,
  type Ready,
  type Role,
} from "./node.ts";
export { persistReady } from "./persist.ts";
export { type GroupHandlers, type GroupOptions, type HostOptions, RaftGroup, RaftHost } from "./host.ts";
export { runHost } from "./driver.ts";
export { decodeWireBatch, encodeWireBatch } from "./codec.ts";
export { MemoryRaftNetwork } from "./memory_network.ts";
export { randInt, seededRandom } from "./prng.ts";
