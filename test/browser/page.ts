// The browser side of the browser test: the official client, bundled for the page by `bun build`.
import { wsconnect } from "@nats-io/nats-core";

(globalThis as { nats?: unknown }).nats = { wsconnect };
document.title = "petrel-ready";
