/**
 * A leafnode connection's outgoing message frames: the route outbox (one frame per message, queue groups added to
 * it in place) writing LMSG frames, which name no account. A JetStream delivery travels as nats-server sends it on
 * leafnode links and routes: `LMSG <deliver subject> <reply>@<stored subject>` (see cluster/js_delivery.ts).
 */
import type { OutBuffer } from "../server/outbound.ts";
import { RouteOutbox } from "../cluster/outbox.ts";
import { writeLeafMsg } from "./protocol.ts";

export class LeafOutbox extends RouteOutbox {
  constructor(out: OutBuffer) {
    super(out, writeLeafMsg);
  }
}
