/**
 * The few services the entry point (mod.ts) needs from the runtime: arguments, environment, files, signals,
 * process exit, stdio, TCP and an HTTP server for monitoring. Implemented in adapters/runtime/ for Deno and Bun;
 * the core in src/ never touches a runtime global.
 */
import type { Transport } from "../transport/types.ts";

export type RuntimeName = "deno" | "bun";

export type SignalName = "SIGTERM" | "SIGINT" | "SIGHUP" | "SIGUSR1" | "SIGUSR2";

export type FetchHandler = (req: Request) => Response | Promise<Response>;

/** A whole answer as text, for a host that can write it without Request/Response objects. */
export interface PlainAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/**
 * Answers a GET of `target` (path and query, as on the request line) as `fetch` would, or undefined to leave it to
 * `fetch`. What a metrics agent polls (the monitoring endpoints) then never builds a Request, a Response or a body
 * stream: on Deno those cost ~3-6 MB of RSS under polling (bench/RESULTS.md, `monmem`).
 */
export type PlainGet = (target: string) => PlainAnswer | undefined | Promise<PlainAnswer | undefined>;

/** Where and how to serve HTTP; `plain`, when given, is asked first for each GET (hosts may ignore it). */
export interface ServeHttpOptions {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  plain?: PlainGet;
}

export interface HttpServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly host: string;
  readonly port: number;
  /** Stop accepting and close open connections. */
  close(): Promise<void>;
}

export interface Runtime {
  readonly name: RuntimeName;
  /** Runtime version, e.g. "2.9.5" (Deno) or "1.4.5" (Bun) */
  readonly version: string;
  readonly pid: number;
  /** CLI arguments after the script. */
  args(): string[];
  env(name: string): string | undefined;

  /** undefined when the file does not exist (conf includes are resolved synchronously). Other errors throw. */
  readTextFileSync(path: string): string | undefined;
  /** As readTextFileSync, for bytes of small regular files (the zone file of log times); not for pipes. */
  readBytesFileSync(path: string): Uint8Array | undefined;
  /**
   * The path of the regular file that `path` names, its symbolic links followed (the log time zone: which zone
   * /etc/localtime links to); undefined when there is no such file (missing, a dangling link, a directory).
   */
  realFilePathSync(path: string): string | undefined;
  writeTextFile(path: string, text: string): Promise<void>;
  /** No error when the file is missing. */
  removeFile(path: string): Promise<void>;
  /** Recursive; no error when it exists. */
  mkdir(path: string): Promise<void>;
  /** Synchronous append (log files). The file is kept open between calls; see `reopenAppendFiles`. */
  appendFile(path: string, text: string): void;
  /** Close the files kept open by `appendFile` (log rotation: the next append reopens by name). */
  reopenAppendFiles(): void;

  onSignal(sig: SignalName, fn: () => void): void;
  exit(code: number): never;
  /** Synchronous, so that nothing is lost when `exit` follows. */
  writeStderr(text: string): void;
  writeStdout(text: string): void;

  /** Resident set size of this process in bytes (monitoring). */
  memoryRss(): number;
  /** CPU time this process has used (all threads, user + system), in ms; where the runtime offers it cheaply. */
  cpuTimeMs?(): number;
  /** The host's interface addresses; a wildcard cluster listener advertises them. */
  interfaceAddresses(): string[];

  readonly tcp: Transport;
  /** Serve `fetch` on host:port (0 = any free port), quietly (no banner); over HTTPS when `tls` is given (PEM). */
  serveHttp(opts: ServeHttpOptions, fetch: FetchHandler): Promise<HttpServer>;
}
