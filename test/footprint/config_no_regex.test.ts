/**
 * A plain start from a config file (the bench's: name, port, host, a monitoring port) runs no regular expression.
 * On Deno the first regular expression a process runs pages in V8's regex compiler for the life of the process
 * (a config-file start idled 0.3-0.5 MB lower without the three it ran, bench/RESULTS.md "rss16"), and nothing on a
 * client's path uses one. Every use of a RegExp, `test`, `match`, `replace`, `split` included, goes through
 * RegExp.prototype.exec once that is replaced (the spec's RegExpExec), so counting its calls finds them all.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadServerOptions, prepareServerOptions } from "../../src/cli/load_options.ts";

describe("a plain config file's start", () => {
  it("runs no regular expression", async () => {
    const conf = 'server_name: "a-n1"\nport: 4222\nhost: "127.0.0.1"\nhttp: "127.0.0.1:8222"\n';
    const readFile = (p: string) => (p === "/etc/petrel/n1.conf" ? conf : undefined);
    const env = () => undefined;
    const argv = ["-c", "/etc/petrel/n1.conf"];
    const exec = RegExp.prototype.exec;
    const seen: string[] = [];
    RegExp.prototype.exec = function (this: RegExp, s: string) {
      seen.push(`${String(this)} on ${JSON.stringify(s).slice(0, 40)}`);
      return exec.call(this, s);
    };
    let result;
    try {
      await prepareServerOptions(argv, readFile, env);
      result = loadServerOptions(argv, { readFile, env });
    } finally {
      RegExp.prototype.exec = exec;
    }
    assert.ok(result.ok, "the config loads");
    assert.equal(result.value.options.port, 4222);
    assert.deepEqual(seen, [], "regular expressions run while loading a plain config file");
    // the counting itself works
    let calls = 0;
    RegExp.prototype.exec = function (this: RegExp, s: string) {
      calls++;
      return exec.call(this, s);
    };
    try {
      "a1".replace(/\d/, "");
    } finally {
      RegExp.prototype.exec = exec;
    }
    assert.equal(calls, 1);
  });
});
