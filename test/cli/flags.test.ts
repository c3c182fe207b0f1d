import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseArgs, type ParsedArgs, USAGE } from "../../src/cli/flags.ts";

function args(...argv: string[]): ParsedArgs {
  const r = parseArgs(argv);
  if (!r.ok) assert.fail(`unexpected error: ${r.error.message}`);
  return r.value;
}

function argError(...argv: string[]) {
  const r = parseArgs(argv);
  if (r.ok) assert.fail(`expected an error for ${argv.join(" ")}`);
  return r.error;
}

describe("flags: spellings", () => {
  it("-p/--port/-port, separate or with =", () => {
    for (const argv of [["-p", "4333"], ["--port", "4333"], ["-port", "4333"], ["--port=4333"], ["-p=4333"]]) {
      assert.equal(args(...argv).overrides.port, 4333, argv.join(" "));
    }
    assert.equal(args("-p", "-1").overrides.port, -1);
  });

  it("-a/--addr/--net", () => {
    for (const f of ["-a", "--addr", "--net", "-net"]) assert.equal(args(f, "127.0.0.1").overrides.host, "127.0.0.1", f);
  });

  it("-n/--name/--server_name", () => {
    for (const f of ["-n", "--name", "--server_name"]) assert.equal(args(f, "srv").overrides.server_name, "srv", f);
  });

  it("-c/--config", () => {
    for (const f of ["-c", "--config"]) assert.equal(args(f, "x.conf").configFile, "x.conf", f);
  });

  it("-m/--http_port and --http host:port", () => {
    for (const f of ["-m", "--http_port"]) assert.equal(args(f, "8222").overrides.http_port, 8222, f);
    const o = args("--http", "127.0.0.1:-1").overrides;
    assert.equal(o.http_host, "127.0.0.1");
    assert.equal(o.http_port, -1);
  });

  it("-D, -V, -DV, -VV, -DVV and their long forms", () => {
    assert.deepEqual(args("-D").overrides, { debug: true });
    assert.deepEqual(args("--debug").overrides, { debug: true });
    assert.deepEqual(args("-V").overrides, { trace: true });
    assert.deepEqual(args("--trace").overrides, { trace: true });
    assert.deepEqual(args("-VV").overrides, { trace: true });
    assert.deepEqual(args("-DV").overrides, { debug: true, trace: true });
    assert.deepEqual(args("-DVV").overrides, { debug: true, trace: true });
    assert.deepEqual(args("-D=false").overrides, { debug: false });
  });

  it("-l/--log, -P/--pid, -T/--logtime, --ports_file_dir, --client_advertise", () => {
    assert.equal(args("-l", "a.log").overrides.log_file, "a.log");
    assert.equal(args("--log", "a.log").overrides.log_file, "a.log");
    assert.equal(args("--pid", "a.pid").overrides.pid_file, "a.pid");
    assert.equal(args("-P", "a.pid").overrides.pid_file, "a.pid");
    assert.equal(args("-T=false").overrides.logtime, false);
    assert.equal(args("--logtime=false").overrides.logtime, false);
    assert.equal(args("--ports_file_dir", "/tmp/p").overrides.ports_file_dir, "/tmp/p");
    assert.equal(args("--client_advertise", "x:1").overrides.client_advertise, "x:1");
  });

  it("--user, --pass, --auth", () => {
    assert.deepEqual(args("--user", "u", "--pass", "p").overrides.authorization, { user: "u", password: "p" });
    assert.deepEqual(args("--auth", "tok").overrides.authorization, { token: "tok" });
  });

  it("--cluster, --cluster_name, --routes, --no_advertise, --cluster_advertise, --connect_retries", () => {
    const o = args(
      "--cluster",
      "nats://127.0.0.1:6222",
      "--cluster_name",
      "C1",
      "--routes",
      "nats://a:6222, nats://b:6222,nats://c:6222",
      "--no_advertise",
      "--cluster_advertise",
      "10.0.0.1:6222",
      "--connect_retries",
      "3",
    ).overrides;
    assert.deepEqual(o.cluster, {
      host: "127.0.0.1",
      port: 6222,
      name: "C1",
      routes: ["nats://a:6222", "nats://b:6222", "nats://c:6222"],
      no_advertise: true,
      advertise: "10.0.0.1:6222",
      connect_retries: 3,
    });
    assert.deepEqual(args("--cluster", "nats://r:s@0.0.0.0:-1").overrides.cluster, {
      host: "0.0.0.0",
      port: -1,
      authorization: { user: "r", password: "s", timeout: 2000 },
    });
    assert.deepEqual(args("--cluster_listen", "nats://127.0.0.1:7000").overrides.cluster, { host: "127.0.0.1", port: 7000 });
  });

  it("-js/--jetstream and -sd/--store_dir", () => {
    assert.deepEqual(args("-js").overrides.jetstream, { enabled: true });
    assert.deepEqual(args("--jetstream").overrides.jetstream, { enabled: true });
    assert.deepEqual(args("-sd", "/d").overrides.jetstream, { store_dir: "/d" });
    assert.deepEqual(args("--store_dir=/d", "-js").overrides.jetstream, { store_dir: "/d", enabled: true });
  });

  it("-h/--help, -v/--version, -t and the help/version commands", () => {
    assert.equal(args().action, "run");
    for (const f of ["-h", "--help", "-help"]) assert.equal(args(f).action, "help", f);
    for (const f of ["-v", "--version", "-version"]) assert.equal(args(f).action, "version", f);
    assert.equal(args("-t", "-c", "x").action, "test");
    assert.equal(args("version").action, "version");
    assert.equal(args("-p", "1", "help").action, "help");
    assert.match(USAGE, /-js, --jetstream/);
    assert.match(USAGE, /--routes/);
  });

  it("warns about nats-server flags Petrel ignores", () => {
    const a = args("-s", "--profile", "6060");
    assert.equal(a.warnings.length, 2);
    assert.match(a.warnings[0], /-s is not supported/);
  });

  it("reads -ms / --https_port", () => {
    assert.equal(args("-ms", "8443").overrides.https_port, 8443);
    assert.equal(args("--https_port=-1").overrides.https_port, -1);
    assert.match(argError("-ms", "x").message, /port/);
  });

  it("reads the TLS flags", () => {
    const a = args("--tlsverify", "--tlscert", "c.pem", "--tlskey", "k.pem", "--tlscacert", "ca.pem");
    assert.deepEqual(a.overrides.tls, { verify: true, cert_file: "c.pem", key_file: "k.pem", ca_file: "ca.pem" });
    assert.deepEqual(args("--tls").overrides.tls, { verify: false });
    assert.equal(args("--tls=false").action, "run");
  });
});

describe("flags: errors", () => {
  it("an unknown flag is named", () => {
    const e = argError("-p", "1", "--bogus");
    assert.equal(e.message, "flag provided but not defined: -bogus");
    assert.equal(argError("--nope=1").message, "flag provided but not defined: -nope");
  });

  it("a missing or bad value", () => {
    assert.equal(argError("-p").message, "flag needs an argument: -p");
    assert.match(argError("-p", "abc").message, /invalid value "abc" for flag -p: expected a port/);
    assert.match(argError("--http_port", "70000").message, /-http_port/);
    assert.match(argError("-D=maybe").message, /invalid boolean value "maybe"/);
    assert.match(argError("--cluster", "nats://h:x").message, /cluster URL/);
    assert.match(argError("---p", "1").message, /bad flag syntax/);
  });

  it("an unexpected positional argument", () => {
    assert.match(argError("-p", "1", "extra").message, /unrecognized command: "extra"/);
  });
});
