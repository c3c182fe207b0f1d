/**
 * The subject of the last message a link received, as a string and as bytes of its own. Streams on a route or
 * a gateway tend to repeat one subject, so a frame whose subject bytes match the last one reuses both (no
 * decode, no copy); any other is copied out of the read buffer and decoded once.
 */
import { bytesToString } from "../protocol/parser.ts";

export class LastSubject {
  text = "";
  bytes: Uint8Array = new Uint8Array(0);

  /** Makes `line[s, e)` the last subject (reused when it is the same as before). */
  read(line: Uint8Array, s: number, e: number): void {
    const last = this.bytes;
    const n = e - s;
    if (last.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (last[i] !== line[s + i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    this.bytes = line.slice(s, e);
    this.text = bytesToString(line, s, e);
  }
}
