/**
 * What the router needs to know about subscriptions and the parties that own them. Clients, internal
 * clients (JetStream, system services), and later routes, gateways and leafnodes all own subscriptions in the
 * same sublist and receive messages through `deliver`.
 */
import type { Subscribable } from "../subjects/sublist.ts";

/** `import`: the origin of a message a stream import mapped into its account (owns no subscriptions). */
export type OwnerKind = "client" | "internal" | "route" | "gateway" | "leaf" | "import";

export interface Subscription extends Subscribable {
  readonly subject: string;
  readonly queue?: string;
  readonly sid: string;
  /** The sid as bytes, written into every MSG line without re-encoding. */
  readonly sidBytes: Uint8Array;
  readonly owner: SubOwner;
  /** Auto-unsubscribe after this many deliveries; 0 = never. */
  max: number;
  delivered: number;
  /** Deliveries must be checked against the owner's subscribe deny list. */
  readonly filtered: boolean;
  /** Queue weight for remote (route) queue interest; 1 for local subscriptions. */
  weight?: number;
  /** Interest that stays on this server: not announced to routes or gateways (per-server JetStream). */
  readonly local?: boolean;
}

/** One message as the router passes it along; all byte views are valid only during the call. */
export interface RoutedMsg {
  subject: string;
  subjectBytes: Uint8Array;
  reply: Uint8Array | null;
  /** Header block length inside `payload`, or -1 for a message without headers. */
  hdrSize: number;
  payload: Uint8Array;
  /**
   * The reply a route or gateway frame carries instead of `reply`: a request from another cluster keeps its
   * `_GR_.` mapping on the routes of the cluster it reached, so any server answering it sends the response back.
   * (A JetStream delivery, routed by `subject` and shown with `subjectBytes`, needs nothing here: links frame it
   * in nats-server's form, see cluster/js_delivery.ts.)
   */
  deliverReply?: Uint8Array;
  /**
   * Set by a reused message object (LocalMsg), changed for every message it carries: whoever remembers messages
   * within a flush (a link's outbox) tells them apart by identity and serial, not identity alone.
   */
  serial?: number;
}

export interface SubOwner {
  readonly cid: number;
  readonly kind: OwnerKind;
  /** false when the owner asked not to receive its own messages. */
  readonly echo: boolean;
  /**
   * A leafnode link this server dialed (it is the hub's spoke): messages from the hub are not forwarded over
   * routes, as every server of the leaf cluster has its own link to the hub (nats-server does the same).
   */
  readonly spoke?: boolean;
  /**
   * Keeps nothing of a delivered RoutedMsg once `deliver` returns (it copies or frames the bytes during the call,
   * and a nested delivery cannot reach the publisher's reused object): a publisher may carry the message to it in
   * one reused object (LocalMsg, see reuse.ts). Clients of this server and its internal clients.
   */
  readonly keepsNothing?: boolean;
  /** `origin`: who published the message or which link brought it (import subscriptions map by it). */
  deliver(sub: Subscription, msg: RoutedMsg, origin?: SubOwner): void;
  /** Forget a subscription that reached its auto-unsubscribe count (the router already removed it). */
  removeSub(sub: Subscription): void;
  /** Subject deny rules that apply at delivery (subscribe deny overlapping a wildcard). */
  deliveryDenied?(subject: string): boolean;
  /**
   * Owners that forward into another account (a stream import's subscription in the exporter): does anyone
   * there listen to `subject`? Interest checks (JetStream's push consumers) ask it instead of counting the
   * forwarding subscription as a listener, as nats-server's import interest only exists while the importer has it.
   */
  importInterest?(subject: string): boolean;
  /** Measured round trip of a link to another server, ms (0 = not measured yet); ranks other clusters. */
  readonly rttMs?: number;
}
