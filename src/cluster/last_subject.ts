/**
 * The subject of the message a link is reading, as a string and as bytes. Streams on a route or a gateway tend
 * to repeat one subject, so a frame whose subject bytes match the one kept reuses both (no decode, no copy).
 * Replies to requests and PubAcks go to a new inbox each time: such a subject's bytes are copied into an array kept
 * for their length (ScratchBytes), valid until the next frame (the delivery only needs them during the call, like
 * the payload: see RoutedMsg), so a reply costs no byte object; a view of the read was one per reply. A subject is copied
 * and kept when it comes again right after a frame on another subject (a one-slot doorkeeper of hashes), so a
 * stream that alternates between a few subjects still reuses them most of the time.
 */
import { bytesToString } from "../protocol/parser.ts";
import { ScratchBytes } from "../server/small_bytes.ts";

const NONE = new Uint8Array(0);

export class LastSubject {
  /** The current frame's subject. */
  text = "";
  /** Its bytes: the kept copy, or a scratch copy valid until the next read (at least while the frame is delivered). */
  bytes: Uint8Array = NONE;
  readonly #scratch = new ScratchBytes();
  #kept: Uint8Array = NONE;
  #keptText = "";
  /** Hash of the last subject that was not kept (0: none). */
  #door = 0;

  /** Makes `line[s, e)` the current subject. */
  read(line: Uint8Array, s: number, e: number): void {
    const kept = this.#kept;
    const n = e - s;
    if (kept.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (kept[i] !== line[s + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.text = this.#keptText;
        this.bytes = kept;
        return;
      }
    }
    this.text = bytesToString(line, s, e);
    const h = subjectHash(line, s, e);
    if (this.#door !== h) {
      this.#door = h;
      this.bytes = this.#scratch.copy(line, s, e);
      return;
    }
    this.#door = 0;
    this.#kept = this.bytes = line.slice(s, e);
    this.#keptText = this.text;
  }
}

/** FNV-1a over the subject's bytes, never 0 (the empty doorkeeper). */
export function subjectHash(b: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5 | 0;
  for (let k = s; k < e; k++) h = Math.imul(h ^ b[k], 0x01000193);
  return h === 0 ? 1 : h;
}
