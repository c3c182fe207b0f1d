import type { JsBus } from "./types.ts";

/** nats-server's JetStream advisories (`$JS.EVENT.ADVISORY.>`), published only when someone listens. */

const enc = new TextEncoder();
const T = "io.nats.jetstream.advisory.v1.";

function id(): string {
  const b = new Uint8Array(11);
  crypto.getRandomValues(b);
  return [...b].map((x) => (x % 36).toString(36)).join("").toUpperCase();
}

export class Advisories {
  constructor(private readonly bus: JsBus, private readonly now: () => number, private readonly domain?: string) {}

  private send(subject: string, type: string, body: Record<string, unknown>): void {
    if (this.bus.hasInterest && !this.bus.hasInterest(subject)) return;
    const msg: Record<string, unknown> = { type: T + type, id: id(), timestamp: new Date(this.now()).toISOString(), ...body };
    if (this.domain) msg.domain = this.domain;
    this.bus.publish(subject, enc.encode(JSON.stringify(msg)));
  }

  streamAction(stream: string, action: "create" | "update" | "delete"): void {
    const verb = action === "create" ? "CREATED" : action === "update" ? "UPDATED" : "DELETED";
    this.send(`$JS.EVENT.ADVISORY.STREAM.${verb}.${stream}`, "stream_action", { stream, action });
  }

  consumerAction(stream: string, consumer: string, action: "create" | "delete"): void {
    const verb = action === "create" ? "CREATED" : "DELETED";
    this.send(`$JS.EVENT.ADVISORY.CONSUMER.${verb}.${stream}.${consumer}`, "consumer_action", {
      stream,
      consumer,
      action,
    });
  }

  maxDeliveries(stream: string, consumer: string, streamSeq: number, deliveries: number): void {
    this.send(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`, "max_deliver", {
      stream,
      consumer,
      stream_seq: streamSeq,
      deliveries,
    });
  }

  /** A replicated stream's new leader takes publishes (sent by that leader, once per election). */
  streamLeaderElected(stream: string, leader: string, replicas: unknown[]): void {
    this.send(`$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.${stream}`, "stream_leader_elected", { stream, leader, replicas });
  }

  /** A replicated stream's leader lost its quorum (sent by that former leader, once per loss). */
  streamQuorumLost(stream: string, replicas: unknown[]): void {
    this.send(`$JS.EVENT.ADVISORY.STREAM.QUORUM_LOST.${stream}`, "stream_quorum_lost", { stream, replicas });
  }

  /** A clustered consumer's new leader runs it (sent by that leader). */
  consumerLeaderElected(stream: string, consumer: string, leader: string, replicas: unknown[]): void {
    this.send(`$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.${stream}.${consumer}`, "consumer_leader_elected", {
      stream,
      consumer,
      leader,
      replicas,
    });
  }

  terminated(stream: string, consumer: string, streamSeq: number, consumerSeq: number, deliveries: number): void {
    this.send(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${stream}.${consumer}`, "terminated", {
      stream,
      consumer,
      consumer_seq: consumerSeq,
      stream_seq: streamSeq,
      deliveries,
    });
  }
}
