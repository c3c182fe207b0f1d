/**
 * The `$JS.API` of an account without JetStream on a server that has it: nats-server 2.9 answers every request
 * it knows with "JetStream not enabled for account" (10039) in that request's response shape, and stays silent
 * on the rest (DIRECT.GET, CONSUMER.MSG.NEXT, unknown subjects), which the client sees as no responders.
 */
import { subjectMatches } from "../subjects/subject.ts";
import { Errors } from "./errors.ts";
import type { BusMsg, JsBus } from "./types.ts";

const enc = new TextEncoder();
const T = "io.nats.jetstream.api.v1.";

type Json = Record<string, unknown>;

/** Response type and the empty fields nats-server's struct carries for one API subject, or undefined (silent). */
export function disabledResponse(subject: string): Json | undefined {
  const op = subject.split(".").slice(2);
  const paged = { total: 0, offset: 0, limit: 0 };
  const [a, b] = op;
  const n = op.length;
  let type: string | undefined;
  let extra: Json = {};
  if (a === "INFO" && n === 1) type = "account_info_response";
  else if (a === "STREAM") {
    if (b === "NAMES" && n === 2) [type, extra] = ["stream_names_response", { ...paged, streams: null }];
    else if (b === "LIST" && n === 2) [type, extra] = ["stream_list_response", { ...paged, streams: [] }];
    else if (b === "TEMPLATE" && op[2] === "NAMES") [type, extra] = ["stream_template_names_response", { ...paged, streams: null }];
    else if (b === "MSG" && n === 4 && op[2] === "GET") type = "stream_msg_get_response";
    else if (b === "MSG" && n === 4 && op[2] === "DELETE") type = "stream_msg_delete_response";
    else if (n === 3) {
      const simple: Record<string, string> = {
        CREATE: "stream_create_response",
        UPDATE: "stream_update_response",
        DELETE: "stream_delete_response",
        SNAPSHOT: "stream_snapshot_response",
      };
      if (b === "INFO") [type, extra] = ["stream_info_response", paged];
      else if (b === "PURGE") [type, extra] = ["stream_purge_response", { purged: 0 }];
      else if (b === "RESTORE") [type, extra] = ["stream_restore_response", { deliver_subject: "" }];
      else type = simple[b];
    }
  } else if (a === "CONSUMER") {
    if ((b === "NAMES" || b === "LIST") && n === 3) {
      [type, extra] = [b === "NAMES" ? "consumer_names_response" : "consumer_list_response", { ...paged, consumers: [] }];
    } else if (b === "CREATE" && n >= 3 && n <= 5) type = "consumer_create_response";
    else if (b === "DURABLE" && op[2] === "CREATE" && n === 5) type = "consumer_create_response";
    else if (b === "INFO" && n === 4) type = "consumer_info_response";
    else if (b === "DELETE" && n === 4) type = "consumer_delete_response";
  }
  if (type === undefined) return undefined;
  return { type: T + type, error: Errors.notEnabledForAccount(), ...extra };
}

/**
 * Serves the refusal on the account's bus; returns the function that stops it. `imported` are the subjects the
 * account imports as services from an account that has JetStream: those requests are the exporter's to answer
 * (nats-server does not add its own `$JS.API` import over an account's explicit one).
 */
export function serveDisabledAccount(bus: JsBus, imported: readonly string[] = []): () => void {
  if (imported.some((s) => subjectMatches("$JS.API.>", s) || s === "$JS.>" || s === ">")) return () => {};
  const sid = bus.subscribe("$JS.API.>", (m: BusMsg) => {
    if (!m.reply) return;
    if (imported.some((s) => subjectMatches(m.subject, s))) return;
    const r = disabledResponse(m.subject);
    if (r) bus.publish(m.reply, enc.encode(JSON.stringify(r)));
  });
  return () => bus.unsubscribe(sid);
}
