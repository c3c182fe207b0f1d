/**
 * Exports and imports at routing time: the only way a message crosses from one account to another.
 * - A stream import of B from A is a subscription in A (on the exported subject the import names) whose
 *   deliveries are re-delivered into B under the mapped subject (`prefix` / `to`).
 * - A service import of B from A is a subscription in B (on `to`, default the service subject) whose
 *   deliveries are re-delivered into A under the service subject, with the reply replaced by a fresh
 *   `_R_.` subject in A; a response on it is delivered back into B under the requester's reply. A singleton
 *   response closes the mapping; stream and chunked responses keep it for the response threshold.
 * As nats-server does it, so that mixed clusters deliver once:
 * - a stream import's subscription in A is interest like any other (announced to routes and gateways): every
 *   server with the import maps A's messages for the subscribers it has in B, whatever link brought them, and
 *   the mapped message stays on that server;
 * - a service import's subscription in B stays on this server: the request is mapped where it was published
 *   (a request that came over a route or gateway was mapped there) and then travels in A like any other; the
 *   reply subject in A is announced, so the response comes back to the mapping server from anywhere.
 * Every crossing is checked against the exporter's exports (public, or listing the importer).
 */
import type { Account } from "./account.ts";
import type { RoutedMsg, SubOwner, Subscription } from "../server/types.ts";
import { compileTransform, prefixTransform, type SubjectTransform } from "./transform.ts";
import { subjectIsSubsetOf } from "../subjects/subject.ts";
import { showsOtherSubject } from "../server/internal.ts";
import type { Timer } from "../runtime/clock.ts";
import { lightTimeout } from "../runtime/light_timers.ts";

export type ResponseType = "singleton" | "stream" | "chunked";

export interface ExportRule {
  stream?: string;
  service?: string;
  accounts?: string[];
  response_type?: ResponseType;
  response_threshold?: number;
}

export interface ImportRule {
  stream?: { account: string; subject: string };
  service?: { account: string; subject: string };
  prefix?: string;
  to?: string;
}

/** nats-server's default service response threshold. */
const DEFAULT_THRESHOLD_MS = 120_000;

const enc = new TextEncoder();
// Made on first use: a TextDecoder built at load brings ~0.3 MB of Bun's code in on every start (bench/RESULTS.md,
// "bunidle, 2026-12-07"), and a plain start decodes nothing.
let decoder: TextDecoder | undefined;
const dec = { decode: (b: Uint8Array): string => (decoder ??= new TextDecoder()).decode(b) };

/** The export of `exporter` that lets `importer` take `subject` (stream or service), or undefined. */
export function exportFor(exports: readonly ExportRule[], kind: "stream" | "service", subject: string, importer: string): ExportRule | undefined {
  for (const e of exports) {
    const pattern = kind === "stream" ? e.stream : e.service;
    if (pattern === undefined) continue;
    if (e.accounts !== undefined && !e.accounts.includes(importer)) continue;
    if (subject === pattern || subjectIsSubsetOf(subject, pattern)) return e;
  }
  return undefined;
}

function importSub(owner: SubOwner, subject: string, local: boolean): Subscription {
  return { subject, sid: `import ${subject}`, sidBytes: enc.encode(`import ${subject}`), owner, max: 0, delivered: 0, filtered: false, local };
}

/** Requests that came over a route or gateway were mapped by the server they were published on. */
function mappedAlready(origin: SubOwner): boolean {
  return origin.kind === "route" || origin.kind === "gateway";
}

/** The origin of messages a stream import delivers: this server's subscribers only. */
const IMPORT_ORIGIN: SubOwner = { cid: 0, kind: "import", echo: true, deliver: () => {}, removeSub: () => {} };

/** A mapped reply waiting for its response(s). */
interface PendingResponse {
  readonly sub: Subscription;
  /** A light timer: on Deno a runtime setTimeout loads Node's timer layer for good (light_timers.ts). */
  timer: Timer;
}

/** One import link; `close` removes its subscriptions. */
export interface ImportLink {
  readonly kind: "stream" | "service";
  readonly importer: Account;
  readonly exporter: Account;
  close(): void;
}

/**
 * B's stream import from A: A's messages on `subject` delivered into B under the mapped subject. The plain
 * subscription in A serves B's plain subscribers on this server. B's queue groups are served through shadow
 * queue subscriptions in A (one per queue group B has members of on this server, weighted by them), so that
 * A's queue policy picks one server of the cluster per message, as nats-server's shadow subscriptions do.
 */
export function linkStreamImport(importer: Account, exporter: Account, exp: ExportRule, subject: string, rule: ImportRule): ImportLink {
  const map: SubjectTransform = rule.prefix !== undefined && rule.prefix !== ""
    ? prefixTransform(rule.prefix)
    : compileTransform(subject, rule.to !== undefined && rule.to !== "" ? rule.to : subject);
  let last: { subject: string; bytes: Uint8Array } = { subject: "", bytes: new Uint8Array(0) };
  // A message this import delivered must not come back through it (an account importing from itself).
  let busy = false;
  const NO_QUEUES: readonly string[] = [];
  const forward = (msg: RoutedMsg, queues: readonly string[]) => {
    if (busy) return;
    const local = map(msg.subject);
    if (last.subject !== local) last = { subject: local, bytes: enc.encode(local) };
    busy = true;
    try {
      const shown = showsOtherSubject(msg) ? msg.subjectBytes : last.bytes;
      importer.deliverImported({ ...msg, subject: local, subjectBytes: shown }, IMPORT_ORIGIN, exporter, exp, queues);
    } finally {
      busy = false;
    }
  };
  const owner: SubOwner = {
    cid: 0,
    kind: "internal",
    echo: true,
    removeSub: () => {},
    importInterest: (s) => importer.sublist.hasInterest(map(s)),
    deliver: (_sub, msg) => forward(msg, NO_QUEUES),
  };
  const sub = importSub(owner, subject, false);
  exporter.addSubscription(sub);

  // Queue shadows: queue name -> the shadow in A and how many of B's members on this server it stands for.
  const shadows = new Map<string, { sub: Subscription; members: number }>();
  const shadowOwner: SubOwner = {
    cid: 0,
    kind: "internal",
    echo: true,
    removeSub: () => {},
    importInterest: (s) => importer.sublist.hasInterest(map(s)),
    deliver: (s, msg) => forward(msg, [s.queue as string]),
  };
  const onImporter = (s: Subscription, added: boolean) => {
    const q = s.queue;
    const k = s.owner.kind;
    // Members on other servers have their own shadows there.
    if (q === undefined || k === "route" || k === "gateway" || k === "import") return;
    let e = shadows.get(q);
    if (added) {
      if (e === undefined) {
        const shadow: Subscription = { subject, queue: q, sid: `import ${subject} ${q}`, sidBytes: enc.encode(`import ${subject} ${q}`), owner: shadowOwner, max: 0, delivered: 0, filtered: false, weight: 0 };
        e = { sub: shadow, members: 0 };
        shadows.set(q, e);
        e.members++;
        shadow.weight = e.members;
        exporter.addSubscription(shadow);
        return;
      }
      e.members++;
      e.sub.weight = e.members;
      return;
    }
    if (e === undefined) return;
    e.members--;
    e.sub.weight = e.members;
    if (e.members <= 0) {
      shadows.delete(q);
      exporter.removeSubscription(e.sub);
    }
  };
  for (const s of importer.sublist.all()) onImporter(s, true);
  importer.interestListeners.add(onImporter);
  return {
    kind: "stream",
    importer,
    exporter,
    close: () => {
      importer.interestListeners.delete(onImporter);
      exporter.removeSubscription(sub);
      for (const e of shadows.values()) exporter.removeSubscription(e.sub);
      shadows.clear();
    },
  };
}

/**
 * B's service import from A: requests published in B on `to` (default: the service subject) are delivered into
 * A on the service subject, with a reply that leads the response back to the requester in B.
 */
export function linkServiceImport(
  importer: Account,
  exporter: Account,
  exp: ExportRule,
  subject: string,
  rule: ImportRule,
): ImportLink {
  const local = rule.to !== undefined && rule.to !== "" ? rule.to : subject;
  const map = compileTransform(local, subject);
  const responseType: ResponseType = exp.response_type ?? "singleton";
  const threshold = exp.response_threshold ?? DEFAULT_THRESHOLD_MS;
  const pending = new Set<PendingResponse>();
  let closed = false;
  let busy = false;

  const owner: SubOwner = {
    cid: 0,
    kind: "internal",
    echo: true,
    removeSub: () => {},
    deliver: (_sub, msg, origin) => {
      if (closed || busy || origin === undefined || mappedAlready(origin)) return;
      const target = map(msg.subject);
      let reply: Uint8Array | null = null;
      if (msg.reply !== null && msg.reply.length > 0) reply = respondVia(dec.decode(msg.reply));
      busy = true;
      try {
        exporter.deliverImported({ ...msg, subject: target, subjectBytes: enc.encode(target), reply }, origin, importer, exp);
      } finally {
        busy = false;
      }
    },
  };

  /** A fresh reply subject in A whose responses go to `requesterReply` in B. */
  function respondVia(requesterReply: string): Uint8Array {
    const mapped = `_R_.${randomToken()}`;
    const replyBytes = enc.encode(requesterReply);
    const drop = () => {
      if (!pending.delete(entry)) return;
      entry.timer.cancel();
      exporter.removeSubscription(entry.sub);
    };
    const responder: SubOwner = {
      cid: 0,
      kind: "internal",
      echo: true,
      removeSub: () => drop(),
      deliver: (_s, msg) => {
        // The response crosses back into B, to the requester's reply subject.
        const shown = showsOtherSubject(msg) ? msg.subjectBytes : replyBytes;
        importer.deliverResponse({ ...msg, subject: requesterReply, subjectBytes: shown }, exporter);
        if (responseType === "singleton") drop();
        else {
          entry.timer.cancel();
          entry.timer = lightTimeout(threshold, drop);
        }
      },
    };
    // Not local: the responder may sit on another server of the cluster, which must route the response here.
    const entry: PendingResponse = {
      sub: { subject: mapped, sid: mapped, sidBytes: enc.encode(mapped), owner: responder, max: 0, delivered: 0, filtered: false },
      timer: lightTimeout(threshold, drop),
    };
    pending.add(entry);
    exporter.addSubscription(entry.sub);
    return enc.encode(mapped);
  }

  const sub = importSub(owner, local, true);
  importer.addSubscription(sub);
  return {
    kind: "service",
    importer,
    exporter,
    close: () => {
      closed = true;
      importer.removeSubscription(sub);
      for (const e of [...pending]) {
        e.timer.cancel();
        exporter.removeSubscription(e.sub);
      }
      pending.clear();
    },
  };
}

function randomToken(): string {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  let s = "";
  for (const x of b) s += "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[x % 62];
  return s;
}

/** The configured exports and imports of every account, as the runtime reads them. */
export interface AccountRules {
  exports?: readonly ExportRule[];
  imports?: readonly ImportRule[];
}

/**
 * Set every account's exports, then link every import (importer, exporter and export checked: an import the
 * exporter does not allow is refused with an error naming it). Returns the links, to close at shutdown.
 */
export function linkAccounts(lookup: (name: string) => Account | undefined, rules: ReadonlyMap<string, AccountRules>): ImportLink[] {
  for (const [name, r] of rules) {
    const a = lookup(name);
    if (a === undefined) throw new Error(`invariant: account "${name}" not created`);
    a.setExports(r.exports ?? []);
  }
  const links: ImportLink[] = [];
  for (const [name, r] of rules) {
    const importer = lookup(name) as Account;
    for (const imp of r.imports ?? []) {
      const kind = imp.stream !== undefined ? "stream" : "service";
      const src = imp.stream ?? imp.service;
      if (src === undefined) continue;
      const exporter = lookup(src.account);
      if (exporter === undefined) throw new Error(`accounts.${name}.imports: account "${src.account}" does not exist`);
      const exp = exportFor(exporter.exports, kind, src.subject, name);
      if (exp === undefined) {
        throw new Error(`accounts.${name}.imports: account "${src.account}" does not export ${kind} "${src.subject}" to "${name}"`);
      }
      links.push(kind === "stream" ? linkStreamImport(importer, exporter, exp, src.subject, imp) : linkServiceImport(importer, exporter, exp, src.subject, imp));
    }
  }
  return links;
}
