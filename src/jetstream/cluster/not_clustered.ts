/**
 * The cluster operations asked of a server that runs JetStream alone: nats-server 2.9.10 answers a stream's
 * peer removal and stream/consumer leader step-downs with 503/10010 "JetStream clustering support required"
 * (for any stream name, known or not), and does not answer SERVER.REMOVE or META.LEADER.STEPDOWN at all.
 */
import type { ApiError } from "../errors.ts";
import { OpsErrors } from "./peer_remove.ts";

const T = "io.nats.jetstream.api.v1.";

/** The answer to `$JS.API.<op>` on a non-clustered server, or undefined when the request is not one of these. */
export function notClusteredAnswer(op: readonly string[]): { type: string; error: ApiError } | undefined {
  const err = OpsErrors.clusterRequired();
  if (op[0] === "STREAM" && op[1] === "PEER" && op[2] === "REMOVE" && op.length === 4) {
    return { type: T + "stream_remove_peer_response", error: err };
  }
  if (op[0] === "STREAM" && op[1] === "LEADER" && op[2] === "STEPDOWN" && op.length === 4) {
    return { type: T + "stream_leader_stepdown_response", error: err };
  }
  if (op[0] === "CONSUMER" && op[1] === "LEADER" && op[2] === "STEPDOWN" && op.length === 5) {
    return { type: T + "consumer_leader_stepdown_response", error: err };
  }
  return undefined;
}
