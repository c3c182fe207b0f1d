/**
 * Answers to cluster operations that need no cluster state: what a server running JetStream alone answers, and
 * the bodies and names a clustered meta leader refuses before doing anything.
 *
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

/** The response type of a stream or consumer leader step-down (`op` is the API subject after `$JS.API.`). */
export function unknownStreamStepDown(op: readonly string[]): string | undefined {
  if (op[0] === "STREAM" && op[1] === "LEADER" && op[2] === "STEPDOWN" && op.length === 4) return "stream_leader_stepdown_response";
  if (op[0] === "CONSUMER" && op[1] === "LEADER" && op[2] === "STEPDOWN" && op.length === 5) return "consumer_leader_stepdown_response";
  return undefined;
}

/** META.LEADER.STEPDOWN: an empty body or a JSON object; anything else is nats-server's 400/10025 "invalid JSON". */
export function stepDownBodyError(payload: Uint8Array): ApiError | undefined {
  const text = new TextDecoder().decode(payload).trim();
  if (text === "") return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return undefined;
  } catch {
    // falls through
  }
  return { code: 400, err_code: 10025, description: "invalid JSON" };
}
