// Reader for nats-server's configuration syntax (conf/lex.go + conf/parse.go semantics), producing plain
// values plus the file:line of every key so later validation can point at the exact spot.
//
// Deliberate leniencies (a superset of nats-server): a value starting with a digit that is not a number
// (`3secret`, `1h30m`, `127.0.0.1:4222`) is a string instead of a lexer error; stray commas in arrays
// are skipped; `key{` / `key[` need no space.

import { isInteger, SIZE_RE, sizeLiteralToNumber } from "./units.ts";
import {
  type ConfMap,
  type ConfPath,
  type ConfValue,
  type ParsedConfig,
  pathKey,
  type Result,
  type SourceLoc,
  type ConfigError,
} from "./types.ts";

export interface ConfParseOptions {
  /** Name used in errors and as the base for relative `include` paths. */
  file?: string;
  /** Reads an included file; undefined = missing. Without it, `include` is an error. */
  readFile?: (path: string) => string | undefined;
  /** Environment lookup for `$VAR` references not defined in the file. */
  env?: (name: string) => string | undefined;
}

const MAX_NESTING = 128;
const MAX_INCLUDE_DEPTH = 16;

/** Parse nats-server conf text. Never throws: syntax problems come back as `{ ok: false, error }`. */
export function parseConf(text: string, opts: ConfParseOptions = {}): Result<ParsedConfig> {
  const file = opts.file ?? "<config>";
  const shared: Shared = {
    readFile: opts.readFile,
    env: opts.env ?? (() => undefined),
    locs: new Map(),
    usedVariables: new Set(),
    includeStack: [file],
    envDepth: 0,
  };
  try {
    const value = new ConfReader(text, file, shared, []).document();
    return { ok: true, value: { file, value, locs: shared.locs, usedVariables: shared.usedVariables } };
  } catch (e) {
    if (e instanceof ConfSyntaxError) return { ok: false, error: e.detail };
    throw e;
  }
}

// Size literals (`1KB`, `64k`) are read by units.ts, shared with the command line (a flags start loads no parser).
export { sizeLiteralToNumber } from "./units.ts";

// ---------------------------------------------------------------------------------------------

interface Shared {
  readFile?: (path: string) => string | undefined;
  env: (name: string) => string | undefined;
  locs: Map<string, SourceLoc>;
  usedVariables: Set<string>;
  includeStack: string[];
  envDepth: number;
}

interface Scope {
  map: ConfMap;
  path: ConfPath;
}

class ConfSyntaxError extends Error {
  constructor(readonly detail: ConfigError) {
    super(`${detail.file}:${detail.line}: ${detail.message}`);
  }
}

const BOOLS: Record<string, boolean> = { true: true, yes: true, on: true, false: false, no: false, off: false };

const NL = 10;
const HASH = 35;
const SLASH = 47;
const DQUOTE = 34;
const BACKSLASH = 92;

// Character classes for the scanning loops, as bits in a table (a lookup, not a call, per character).
const BLANK = 1; // " " "\t"
const SPACE = 2; // " " "\t" "\n" "\r" "\f" "\v"
const NEWLINE = 4; // "\n" "\r"
const ENDS_KEY = 8; // what ends an unquoted key: space, "=" ":" "{" "[" "}" "]" "," ";"
const ENDS_VALUE = 16; // what ends an unquoted value: space, ";" "," "]" "}"
const CHAR_CLASS = new Uint8Array(128);
for (const c of " \t") CHAR_CLASS[c.charCodeAt(0)] |= BLANK;
for (const c of " \t\n\r\f\v") CHAR_CLASS[c.charCodeAt(0)] |= SPACE | ENDS_KEY | ENDS_VALUE;
for (const c of "\n\r") CHAR_CLASS[c.charCodeAt(0)] |= NEWLINE;
for (const c of "=:{[}],;") CHAR_CLASS[c.charCodeAt(0)] |= ENDS_KEY;
for (const c of ";,]}") CHAR_CLASS[c.charCodeAt(0)] |= ENDS_VALUE;

function isBlank(c: string): boolean {
  return c === " " || c === "\t";
}
function isSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v";
}
function isNL(c: string): boolean {
  return c === "\n" || c === "\r";
}

function describeChar(c: string): string {
  if (c === "") return "end of file";
  if (c === "\n" || c === "\r") return "new line";
  return `'${c}'`;
}

class ConfReader {
  private pos = 0;
  private line = 1;
  private depth = 0;
  private readonly scopes: Scope[] = [];

  constructor(
    private readonly src: string,
    private readonly file: string,
    private readonly shared: Shared,
    private readonly basePath: ConfPath,
  ) {}

  document(): ConfMap {
    const top: ConfMap = {};
    this.scopes.push({ map: top, path: this.basePath });
    for (;;) {
      // A whole document wrapped in braces (JSON style) is accepted, as nats-server does.
      this.skipFiller(true, "{};,");
      if (this.eof()) break;
      this.entry(top, this.basePath);
      this.endOfEntry("}");
    }
    this.scopes.pop();
    return top;
  }

  // --- cursor --------------------------------------------------------------------------------

  private eof(): boolean {
    return this.pos >= this.src.length;
  }
  private peek(offset = 0): string {
    return this.src.charAt(this.pos + offset);
  }
  private advance(): string {
    const c = this.src.charAt(this.pos++);
    if (c === "\n") this.line++;
    return c;
  }
  private fail(message: string, line = this.line, key?: string): never {
    throw new ConfSyntaxError({ file: this.file, line, message, ...(key !== undefined ? { key } : {}) });
  }

  private atComment(): boolean {
    const c = this.peek();
    return c === "#" || (c === "/" && this.peek(1) === "/");
  }
  // The scanning loops below walk the text by index, not through peek()/advance() per character: a call per
  // character is enough for Bun's JIT to compile those small functions with its optimizing tier while a few-line
  // file is read, which costs a server started from a config file ~3 MB RSS (measured on Bun 1.4).

  private skipComment(): void {
    const s = this.src;
    let i = this.pos;
    for (let c = 0; i < s.length && ((c = s.charCodeAt(i)) >= 128 || (CHAR_CLASS[c] & NEWLINE) === 0);) i++;
    this.pos = i;
  }
  private skipBlanks(): void {
    const s = this.src;
    let i = this.pos;
    for (let c = 0; i < s.length && (c = s.charCodeAt(i)) < 128 && (CHAR_CLASS[c] & BLANK) !== 0;) i++;
    this.pos = i;
  }
  /** Skip whitespace (new lines too when `newlines`), comments and any of the `extra` characters. */
  private skipFiller(newlines: boolean, extra = ""): void {
    const s = this.src;
    for (;;) {
      const i = this.pos;
      if (i >= s.length) return;
      const code = s.charCodeAt(i);
      if (code === HASH || (code === SLASH && s.charCodeAt(i + 1) === SLASH)) this.skipComment();
      else if (
        (code < 128 && (CHAR_CLASS[code] & (newlines ? SPACE : BLANK)) !== 0) || (extra !== "" && extra.includes(s.charAt(i)))
      ) {
        if (code === NL) this.line++;
        this.pos = i + 1;
      } else return;
    }
  }
  /** The characters up to (not including) `q` from the cursor, counting new lines; the cursor ends on `q`. */
  private scanTo(q: string, unterminated: string, line: number): string {
    const s = this.src;
    const start = this.pos;
    let i = start;
    for (;;) {
      if (i >= s.length) {
        this.pos = i;
        this.fail(unterminated, line);
      }
      const c = s.charAt(i);
      if (c === q) break;
      if (c === "\n") this.line++;
      i++;
    }
    this.pos = i;
    return s.slice(start, i);
  }
  /** The characters from the cursor up to the first of class `stop` (CHAR_CLASS) or the end; the cursor ends there. */
  private scanUntil(stop: number): string {
    const s = this.src;
    const start = this.pos;
    let i = start;
    for (let c = 0; i < s.length && ((c = s.charCodeAt(i)) >= 128 || (CHAR_CLASS[c] & stop) === 0);) i++;
    this.pos = i;
    return s.slice(start, i);
  }

  /** After a value in a map or at top level: only blanks, then a terminator. */
  private endOfEntry(closer: string): void {
    this.skipBlanks();
    const c = this.peek();
    if (c === "" || isNL(c) || c === ";" || c === "," || c === closer || this.atComment()) return;
    this.fail(`expected a new line, ';', ',' or '${closer}' after a value, got ${describeChar(c)}`);
  }

  // --- entries -------------------------------------------------------------------------------

  private entry(map: ConfMap, path: ConfPath): void {
    const keyLine = this.line;
    const { key, quoted } = this.key();
    if (!quoted && key.toLowerCase() === "include" && isBlank(this.peek())) {
      this.include(map, path, keyLine);
      return;
    }
    // nats-server lets a value follow its key on a later line when no separator is used.
    this.skipFiller(true);
    const c = this.peek();
    if (c === "=" || c === ":") {
      this.advance();
      this.skipBlanks();
    }
    const keyPath = [...path, key];
    setKey(map, key, this.value(keyPath, key));
    this.shared.locs.set(pathKey(keyPath), { file: this.file, line: keyLine });
  }

  private key(): { key: string; quoted: boolean } {
    const q = this.peek();
    if (q === '"' || q === "'") {
      const line = this.line;
      this.advance();
      const key = this.scanTo(q, "unterminated quoted key", line);
      this.advance();
      return { key, quoted: true };
    }
    const key = this.scanUntil(ENDS_KEY);
    if (key === "") this.fail(`expected a key, got ${describeChar(this.peek())}`);
    return { key, quoted: false };
  }

  private include(map: ConfMap, path: ConfPath, line: number): void {
    this.skipBlanks();
    let target = "";
    const q = this.peek();
    if (q === '"' || q === "'") {
      this.advance();
      while (this.peek() !== q) {
        if (this.eof() || isNL(this.peek())) this.fail("unterminated include path", line);
        target += this.advance();
      }
      this.advance();
    } else {
      while (!this.eof() && !isSpace(this.peek()) && this.peek() !== ";" && this.peek() !== "}") {
        target += this.advance();
      }
    }
    if (target === "") this.fail("include needs a file path", line);
    const readFile = this.shared.readFile;
    if (!readFile) this.fail(`cannot include "${target}": includes are not available here`, line);
    const resolved = resolveIncludePath(this.file, target);
    if (this.shared.includeStack.includes(resolved)) this.fail(`include cycle through "${target}"`, line);
    if (this.shared.includeStack.length > MAX_INCLUDE_DEPTH) this.fail("includes nested too deeply", line);
    const text = readFile(resolved);
    if (text === undefined) this.fail(`cannot read include file "${target}" (${resolved})`, line);
    this.shared.includeStack.push(resolved);
    // An included file is parsed on its own (its own variable scope), then merged, as nats-server does.
    const sub = new ConfReader(text, resolved, this.shared, path).document();
    this.shared.includeStack.pop();
    for (const [k, v] of Object.entries(sub)) setKey(map, k, v);
  }

  // --- values --------------------------------------------------------------------------------

  private value(path: ConfPath, keyName: string): ConfValue {
    const c = this.peek();
    if (c === "" || isNL(c)) this.fail(`expected a value for "${keyName}", got ${describeChar(c)}`);
    if (this.depth >= MAX_NESTING) this.fail("configuration nested too deeply");
    if (c === "{") return this.map(path);
    if (c === "[") return this.array(path);
    if (c === '"') return this.doubleQuoted();
    if (c === "'") return this.singleQuoted();
    return this.unquoted(keyName);
  }

  private map(path: ConfPath): ConfMap {
    const line = this.line;
    this.advance();
    this.depth++;
    const map: ConfMap = {};
    this.scopes.push({ map, path });
    for (;;) {
      this.skipFiller(true, ",;");
      if (this.eof()) this.fail("unterminated map: missing '}'", line);
      if (this.peek() === "}") {
        this.advance();
        break;
      }
      this.entry(map, path);
      this.endOfEntry("}");
    }
    this.scopes.pop();
    this.depth--;
    return map;
  }

  private array(path: ConfPath): ConfValue[] {
    const line = this.line;
    this.advance();
    this.depth++;
    const items: ConfValue[] = [];
    for (;;) {
      this.skipFiller(true, ",");
      if (this.eof()) this.fail("unterminated array: missing ']'", line);
      if (this.peek() === "]") {
        this.advance();
        break;
      }
      const itemPath = [...path, items.length];
      const itemLine = this.line;
      items.push(this.value(itemPath, String(path[path.length - 1] ?? "")));
      this.shared.locs.set(pathKey(itemPath), { file: this.file, line: itemLine });
      this.skipBlanks();
      const c = this.peek();
      if (!(c === "" || isNL(c) || c === "," || c === "]" || this.atComment())) {
        this.fail(`expected ',' or ']' after an array item, got ${describeChar(c)}`);
      }
    }
    this.depth--;
    return items;
  }

  private singleQuoted(): string {
    const line = this.line;
    this.advance();
    const out = this.scanTo("'", "unterminated string", line);
    this.advance();
    return out;
  }

  private doubleQuoted(): string {
    const line = this.line;
    this.advance();
    let out = "";
    for (;;) {
      // The run up to the next quote or backslash in one piece (new lines counted), then one escape.
      const s = this.src;
      const start = this.pos;
      let i = start;
      let code = 0;
      while (i < s.length && (code = s.charCodeAt(i)) !== DQUOTE && code !== BACKSLASH) {
        if (code === NL) this.line++;
        i++;
      }
      out += s.slice(start, i);
      this.pos = i;
      if (this.eof()) this.fail("unterminated string", line);
      const c = this.advance();
      if (c === '"') return out;
      const e = this.advance();
      if (e === "t") out += "\t";
      else if (e === "n") out += "\n";
      else if (e === "r") out += "\r";
      else if (e === '"') out += '"';
      else if (e === "\\") out += "\\";
      else if (e === "x") {
        const hex = this.advance() + this.advance();
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) this.fail(`expected two hexadecimal digits after '\\x', got "${hex}"`);
        out += String.fromCharCode(parseInt(hex, 16));
      } else {
        this.fail(`invalid escape character ${describeChar(e)}: only \\xXX, \\t, \\n, \\r, \\", \\\\ are allowed`);
      }
    }
  }

  private unquoted(keyName: string): ConfValue {
    const line = this.line;
    const raw = this.scanUntil(ENDS_VALUE);
    if (raw === "") this.fail(`expected a value for "${keyName}", got ${describeChar(this.peek())}`);
    return this.classify(raw, line);
  }

  private classify(raw: string, line: number): ConfValue {
    const lower = raw.toLowerCase();
    if (lower in BOOLS) return BOOLS[lower];
    if (raw.startsWith("$")) return this.variable(raw.slice(1), line);
    if (isInteger(raw)) {
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) this.fail(`integer ${raw} is out of range`, line);
      return n;
    }
    if (/^-?\d+\.\d+$/.test(raw)) return Number(raw);
    if (SIZE_RE.test(raw)) {
      const n = sizeLiteralToNumber(raw);
      if (n === undefined) this.fail(`size ${raw} is out of range`, line);
      return n;
    }
    return raw;
  }

  private variable(name: string, line: number): ConfValue {
    // bcrypt hashes ($2a$...) are commonly written unquoted; they are not variable references.
    if (/^2[aby]\$/.test(name)) return `$${name}`;
    if (name === "") this.fail("'$' must be followed by a variable name", line);
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const scope = this.scopes[i];
      if (Object.hasOwn(scope.map, name)) {
        this.shared.usedVariables.add(pathKey([...scope.path, name]));
        return scope.map[name];
      }
    }
    const fromEnv = this.shared.env(name);
    if (fromEnv !== undefined && this.shared.envDepth < 8) {
      // Environment values are typed like file values ("4222" is a number), as nats-server does.
      this.shared.envDepth++;
      try {
        const parsed = new ConfReader(`pk=${fromEnv}`, `$${name}`, { ...this.shared, locs: new Map() }, [])
          .document();
        if (Object.hasOwn(parsed, "pk")) return parsed.pk;
      } catch (e) {
        if (!(e instanceof ConfSyntaxError)) throw e;
        return fromEnv;
      } finally {
        this.shared.envDepth--;
      }
      return fromEnv;
    }
    this.fail(`variable "$${name}" is not defined in the file nor in the environment`, line);
  }
}

/** Own-property assignment that also works for a key named "__proto__". */
function setKey(map: ConfMap, key: string, value: ConfValue): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Resolve an include path against the including file's directory (POSIX-style paths). */
export function resolveIncludePath(fromFile: string, target: string): string {
  if (target.startsWith("/") || /^[A-Za-z]:[\\/]/.test(target)) return normalizePath(target);
  const slash = Math.max(fromFile.lastIndexOf("/"), fromFile.lastIndexOf("\\"));
  const dir = slash >= 0 ? fromFile.slice(0, slash) : ".";
  return normalizePath(`${dir}/${target}`);
}

function normalizePath(p: string): string {
  const absolute = p.startsWith("/");
  const out: string[] = [];
  for (const seg of p.split(/[\\/]+/)) {
    if (seg === "" || seg === ".") continue;
    if (seg === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (seg === ".." && absolute) continue;
    else out.push(seg);
  }
  const joined = out.join("/");
  if (absolute) return `/${joined}`;
  return joined === "" ? "." : joined;
}
