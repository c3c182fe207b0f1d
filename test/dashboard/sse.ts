// A small server-sent-events reader over fetch, for tests: collects events as they arrive and lets a test
// wait for the first one that satisfies a condition.
export interface SseEvent {
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: Headers;
  events: SseEvent[];
  /** Waits for an event (from `from` on) that passes `pred`; rejects after `timeoutMs`. */
  waitFor(pred: (e: SseEvent) => boolean, timeoutMs?: number, from?: number): Promise<SseEvent>;
  close(): Promise<void>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
}

export async function openSse(url: string): Promise<SseStream> {
  const ctl = new AbortController();
  const res = await fetch(url, { signal: ctl.signal, headers: { accept: "text/event-stream" } });
  const events: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let bytes = 0;
  let readError = "";
  let ended = false;
  const pump = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.length;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length > 0) events.push({ event, data: data.join("\n") });
        }
        for (const w of waiters) w();
      }
    } catch (e) {
      readError = String(e); // aborted by close(), or the connection failed
    }
    // Ended before the waiters are told: set in a `.then` of the pump (as it was), it came a microtask after them,
    // and a wait pending when the stream ended waited out its whole timeout and then said "0 events seen" and
    // nothing of the end (serverless's one failure read so: the stream may well have ended at once).
    ended = true;
    for (const w of waiters) w();
  })();
  const endedP = pump;
  return {
    status: res.status,
    headers: res.headers,
    events,
    ended: endedP,
    waitFor(pred, timeoutMs = 10_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let k = from; k < events.length; k++) {
            if (pred(events[k])) {
              done();
              resolve(events[k]);
              return;
            }
          }
          if (ended) {
            done();
            reject(new Error(`stream ended (${events.length} events seen, HTTP ${res.status}, ${bytes} bytes read${readError ? `, ${readError}` : ""})`));
          }
        };
        const timer = setTimeout(() => {
          done();
          // What the stream did meanwhile, so that a failure on a loaded machine names where it stopped.
          const seen = `${events.length} events seen: ${events.map((x) => x.event).join(",")}; HTTP ${res.status} ` +
            `${res.headers.get("content-type")}, ${bytes} bytes read, unparsed ${JSON.stringify(buf.slice(0, 120))}` +
            (ended ? `, stream ended ${readError}` : ", stream open");
          reject(new Error(`no matching event within ${timeoutMs} ms (${seen})`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      ctl.abort();
      await reader.cancel().catch(() => {});
      await pump;
    },
  };
}
