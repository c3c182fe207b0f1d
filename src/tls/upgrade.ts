/**
 * The server side of nats-server's TLS start: after the plain INFO, the connection must become TLS within the
 * timeout or it is dropped. Runtime-free: it only asks the `Duplex` for its `startTls` capability. A transport
 * without it cannot serve a TLS listener, and the connection is refused rather than served in the clear.
 */
import type { Duplex, TlsInfo, TlsSettings } from "../transport/types.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

export interface UpgradeOutcome {
  onSecure(info: TlsInfo): void;
  /** `reason` is what nats-server logs after "TLS handshake error: ". */
  onFailure(reason: string): void;
}

/** Start the handshake now (the INFO must already be handed to the transport) and report once. */
export function upgradeToTls(duplex: Duplex, settings: TlsSettings, timeoutMs: number, out: UpgradeOutcome): void {
  if (duplex.startTls === undefined) {
    out.onFailure(`the ${duplex.info.kind} transport cannot upgrade a connection to TLS`);
    return;
  }
  let settled = false;
  // A light timer: on Deno a runtime setTimeout loads Node's timer layer for good (light_timers.ts).
  const timer = timeoutMs > 0
    ? lightTimeout(timeoutMs, () => {
      if (settled) return;
      settled = true;
      out.onFailure("timeout");
    })
    : undefined;
  duplex.startTls(settings).then(
    (info) => {
      if (settled) return;
      settled = true;
      timer?.cancel();
      out.onSecure(info);
    },
    (e: unknown) => {
      if (settled) return;
      settled = true;
      timer?.cancel();
      out.onFailure(e instanceof Error ? e.message : String(e));
    },
  );
}
