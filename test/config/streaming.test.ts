// The `streaming {}` block and nats-streaming-server's flags: .conf and YAML give the same options, flags win,
// and what Petrel does not implement (clustering, fault tolerance, the SQL store, ...) refuses to start.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { loadServerOptions } from "../../src/cli/load_options.ts";
import { loadConfigFormats } from "../../src/config/load.ts";

// Config files below are parsed synchronously: the schemas and the YAML parser load on demand (config/load.ts).
await loadConfigFormats();

function io(files: Record<string, string>) {
  return { readFile: (p: string) => files[p], env: (_n: string) => undefined };
}

function load(argv: string[], files: Record<string, string> = {}) {
  const r = loadServerOptions(argv, io(files));
  if (!r.ok) assert.fail(`unexpected error: ${r.error.text}`);
  return r.value;
}

function refused(argv: string[], files: Record<string, string> = {}): string {
  const r = loadServerOptions(argv, io(files));
  assert.ok(!r.ok, "expected a refusal");
  return r.error.text;
}

const CONF = `
port: 4222
streaming {
  cluster_id: "my-cluster"
  store: "file"
  dir: "/data/stan"
  hb_interval: "10s"
  store_limits {
    max_channels: 10
    max_msgs: 500
    max_bytes: 1MB
    max_age: "1h"
    max_subs: 20
    channels {
      "orders.*": { max_msgs: 50 }
      "audit": { max_age: "24h" }
    }
  }
}
`;

const YAML = `
port: 4222
streaming:
  cluster_id: my-cluster
  store: file
  dir: /data/stan
  hb_interval: 10s
  store_limits:
    max_channels: 10
    max_msgs: 500
    max_bytes: 1MB
    max_age: 1h
    max_subs: 20
    channels:
      "orders.*":
        max_msgs: 50
      audit:
        max_age: 24h
`;

describe("streaming configuration", () => {
  it("reads the streaming block from .conf and YAML alike", () => {
    const conf = load(["-c", "s.conf"], { "s.conf": CONF }).options.streaming;
    const yaml = load(["-c", "s.yaml"], { "s.yaml": YAML }).options.streaming;
    assert.deepEqual(conf, yaml);
    assert.deepEqual(conf, {
      cluster_id: "my-cluster",
      discover_prefix: "_STAN.discover",
      store: "file",
      dir: "/data/stan",
      hb_interval: 10_000,
      hb_timeout: 10_000,
      hb_fail_count: 10,
      max_channels: 10,
      limits: { max_msgs: 500, max_bytes: 1024 * 1024, max_age: 3_600_000, max_subs: 20, max_inactivity: 0 },
      channels: { "orders.*": { max_msgs: 50 }, audit: { max_age: 86_400_000 } },
    });
  });

  it("is off without the block or a flag, on with defaults with an empty block", () => {
    assert.equal(load([]).options.streaming, undefined);
    const s = load(["-c", "e.conf"], { "e.conf": "streaming {}\n" }).options.streaming;
    assert.equal(s?.cluster_id, "test-cluster");
    assert.equal(s?.store, "memory");
    assert.equal(s?.max_channels, 100);
    assert.equal(s?.limits.max_msgs, 1_000_000);
  });

  it("takes nats-streaming-server's flags, which win over the file", () => {
    const s = load(["-c", "s.conf", "-cid", "flagged", "-st", "MEMORY", "-mc", "3", "-mm", "7", "-mb", "2KB", "-ma", "30s", "--max_subs", "4"], {
      "s.conf": CONF,
    }).options.streaming;
    assert.equal(s?.cluster_id, "flagged");
    assert.equal(s?.store, "memory");
    assert.equal(s?.max_channels, 3);
    assert.deepEqual(s?.limits, { max_msgs: 7, max_bytes: 2048, max_age: 30_000, max_subs: 4, max_inactivity: 0 });
    // Values the flags did not set come from the file.
    assert.equal(s?.dir, "/data/stan");
    const only = load(["--cluster_id", "solo", "--store_type", "file", "-dir", "/x"]).options.streaming;
    assert.deepEqual([only?.cluster_id, only?.store, only?.dir], ["solo", "file", "/x"]);
  });

  it("refuses bad values and a file store without a directory", () => {
    assert.match(refused(["-c", "b.conf"], { "b.conf": "streaming { store: sql }\n" }), /b\.conf:1: .*SQL store for MySQL\/Postgres is not implemented/);
    assert.match(refused(["-st", "sql"]), /-st.*SQL store for MySQL\/Postgres is not implemented/);
    assert.match(refused(["-st", "sqlite"]), /the sqlite store needs a directory/);
    assert.equal(load(["-st", "SQLite", "-dir", "/d"]).options.streaming?.store, "sqlite");
    assert.match(refused(["-cid", "bad.id"]), /-cid/);
    assert.match(refused(["-c", "f.conf"], { "f.conf": "streaming { store: file }\n" }), /file store needs a directory/);
    assert.match(refused(["-mm", "lots"]), /-mm/);
  });

  it("reads the cluster block and the clustering flags (this node among the peers, sorted)", () => {
    const cluster = `streaming {\n  cluster_id: c\n  store: file\n  dir: /d\n  cluster {\n    node_id: "a"\n    peers: ["b", "c"]\n    log_path: /tmp/raft\n  }\n}\n`;
    assert.deepEqual(load(["-c", "c.conf"], { "c.conf": cluster }).options.streaming?.cluster, { node_id: "a", peers: ["a", "b", "c"], log_path: "/tmp/raft" });
    const yaml = "streaming:\n  store: file\n  dir: /d/\n  cluster:\n    node_id: b\n    peers: [a, b, c]\n";
    assert.deepEqual(load(["-c", "y.yaml"], { "y.yaml": yaml }).options.streaming?.cluster, { node_id: "b", peers: ["a", "b", "c"], log_path: "/d/raft" });
    const flags = load(["--clustered", "--cluster_node_id", "c", "--cluster_peers", "a, b", "--cluster_log_path", "/l", "-st", "file", "-dir", "/d"]);
    assert.deepEqual(flags.options.streaming?.cluster, { node_id: "c", peers: ["a", "b", "c"], log_path: "/l" });
    assert.equal(load(["-c", "s.conf"], { "s.conf": "streaming { dir: /d }\n" }).options.streaming?.cluster, undefined);
  });

  it("refuses an incomplete cluster block, fault tolerance and other unimplemented streaming settings, naming them", () => {
    assert.match(refused(["-c", "n.conf"], { "n.conf": "streaming { cluster { peers: [b, c] } }\n" }), /streaming\.cluster\.node_id/);
    assert.match(refused(["-c", "p.conf"], { "p.conf": "streaming { cluster { node_id: a } }\n" }), /streaming\.cluster\.peers/);
    assert.match(refused(["-c", "b.conf"], { "b.conf": "streaming { cluster { node_id: a, peers: [b, \"x.y\"] } }\n" }), /invalid node ID "x\.y"/);
    assert.match(refused(["-c", "i.conf"], { "i.conf": "streaming { store_limits { max_inactivity: \"1m\" }, cluster { node_id: a, peers: [b] } }\n" }), /max_inactivity.*clustered mode/);
    assert.match(refused(["--clustered", "-st", "file", "-dir", "/d"]), /streaming\.cluster\.node_id/);
    assert.match(refused(["-c", "ft.conf"], { "ft.conf": "streaming { ft_group: grp }\n" }), /streaming\.ft_group: fault tolerance needs a shared file or sqlite store/);
    assert.match(refused(["-c", "e.conf"], { "e.conf": "streaming { encrypt: true }\n" }), /streaming\.encrypt/);
    assert.match(refused(["-c", "n.conf"], { "n.conf": 'streaming { nats_server_url: "nats://x:4222" }\n' }), /streaming\.nats_server_url/);
    assert.match(refused(["--cluster_bootstrap"]), /-cluster_bootstrap/);
    assert.match(refused(["-ft_group", "g"]), /streaming\.ft_group: fault tolerance needs/);
    assert.match(refused(["-ft_group", "a.b", "-st", "file", "-dir", "/d"]), /-ft_group/);
  });

  it("reads the fault-tolerance group from the file and the flag", () => {
    assert.equal(load(["-c", "ft.conf"], { "ft.conf": "streaming { store: file, dir: /d, ft_group: grp }\n" }).options.streaming?.ft_group, "grp");
    assert.equal(load(["-c", "ft.conf"], { "ft.conf": "streaming { store: file, dir: /d, ft_group_name: g2 }\n" }).options.streaming?.ft_group, "g2");
    assert.equal(load(["--ft_group", "g3", "-st", "file", "-dir", "/d"]).options.streaming?.ft_group, "g3");
  });
});
