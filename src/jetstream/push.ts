import { status } from "./pull.ts";

/** Push consumers' flow control (`$JS.FC.` requests the subscriber must answer) and idle heartbeats. */

/** Bytes delivered to a flow-controlled push consumer before it is asked to confirm it keeps up. */
export const FC_WINDOW = 512 * 1024;

export interface FlowControl {
  /** Bytes delivered since the subscriber last confirmed. */
  bytes: number;
  /** Reply subject of the request awaiting an answer. */
  outstanding: string | undefined;
  /** Requests sent so far; numbers the next reply subject. */
  count: number;
}

export function newFlowControl(): FlowControl {
  return { bytes: 0, outstanding: undefined, count: 0 };
}

/** With a request unanswered, delivery stops after a second window (nats-server stalls too). */
export function stalled(fc: FlowControl): boolean {
  return fc.outstanding !== undefined && fc.bytes >= 2 * FC_WINDOW;
}

/** Counts a delivery of `size` bytes; returns the reply subject of a request to send now, if one is due. */
export function countDelivered(fc: FlowControl, size: number, stream: string, consumer: string): string | undefined {
  fc.bytes += size;
  if (fc.outstanding !== undefined || fc.bytes < FC_WINDOW) return undefined;
  fc.count++;
  fc.outstanding = `$JS.FC.${stream}.${consumer}.${fc.count}`;
  return fc.outstanding;
}

export function flowControlRequest(): Uint8Array {
  return status(100, "FlowControl Request");
}

/** The subscriber answered on `subject`: true when that was the outstanding request, which resumes delivery. */
export function answered(fc: FlowControl, subject: string): boolean {
  if (subject !== fc.outstanding) return false;
  fc.outstanding = undefined;
  fc.bytes = 0;
  return true;
}

/** An idle heartbeat tells where delivery stands and, when stalled, which flow control request is unanswered. */
export function idleHeartbeat(dseq: number, lastStreamSeq: number, fc: FlowControl): Uint8Array {
  const extra: Array<[string, string]> = [
    ["Nats-Last-Consumer", String(dseq)],
    ["Nats-Last-Stream", String(lastStreamSeq)],
  ];
  if (fc.outstanding) extra.push(["Nats-Consumer-Stalled", fc.outstanding]);
  return status(100, "Idle Heartbeat", extra);
}
