import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import type { TestBroker } from "../support/broker.js";
import { MESH_BIN, mesh } from "../support/cli.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { until } from "../support/sidecar.js";

/** `mesh …` running in the background; each stdout line as it arrives, with the time it arrived. */
function watch(args: string[], env: Record<string, string>): {
  lines: Array<{ at: number; json: { seq?: number; envelope?: { id?: string; body?: unknown } } }>;
  done: Promise<{ code: number; stderr: string }>;
} {
  const child = spawn(process.execPath, [MESH_BIN, ...args], {
    env: { ...process.env, MESH_LOG_LEVEL: "warn", MESH_CONFIG: undefined, MESH_CREDS: undefined, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<{ at: number; json: { seq?: number; envelope?: { id?: string; body?: unknown } } }> = [];
  let partial = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split("\n");
    partial = parts.pop()!;
    for (const p of parts) if (p.trim()) lines.push({ at: Date.now(), json: JSON.parse(p) });
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const done = new Promise<{ code: number; stderr: string }>((resolve) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stderr });
    }),
  );
  return { lines, done };
}

let m: TestMesh;
let broker: TestBroker;
let env: Record<string, string>;

beforeAll(async () => {
  // Provisioned by the CLI below (clawd's inbox comes from that first provision).
  m = await startMesh({ provision: false });
  broker = m.broker;
  env = { MESH_SERVER: broker.url, MESH_HOME: mkdtempSync(join(tmpdir(), "mesh-home-")), MESH_IDENTITY: "clawd" };
  const r = await mesh(["broker", "provision"], { env });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
});

afterAll(async () => {
  await m?.stop();
});

describe(`CLI against a real nats-server`, () => {
  it("provisioning twice is idempotent", async () => {
    const again = await mesh(["broker", "provision", "--for", "nova,clawd", "--json"], { env });
    expect(again.code).toBe(0);
    const first = JSON.parse(again.stdout);
    // clawd's streams and consumer came from the first provision (MESH_IDENTITY=clawd).
    expect(first.streams).toEqual({
      EVENTS: "unchanged",
      JOBS: "unchanged",
      "INBOX-nova": "created",
      "DLQ-nova": "created",
      "HOOKS-nova": "created",
      "INBOX-clawd": "unchanged",
      "DLQ-clawd": "unchanged",
      "HOOKS-clawd": "unchanged",
      "HISTORY-nova": "created",
      "HISTORY-clawd": "unchanged",
      "KV_mesh-jobs-nova": "created",
      "KV_mesh-jobs-clawd": "unchanged",
      "REPLIES-nova": "created",
      "REPLIES-clawd": "unchanged",
      "KV_mesh-a2a-nova": "created",
      "KV_mesh-a2a-clawd": "unchanged",
    });
    expect(first.consumers).toEqual({ "INBOX-nova/inbox-nova": "created", "INBOX-clawd/inbox-clawd": "unchanged" });
    const third = JSON.parse((await mesh(["broker", "provision", "--for", "nova,clawd", "--json"], { env })).stdout);
    expect(Object.values(third.streams)).toEqual(Array(16).fill("unchanged"));
    expect(third.consumers).toEqual({ "INBOX-nova/inbox-nova": "unchanged", "INBOX-clawd/inbox-clawd": "unchanged" });
    expect(Object.values(third.buckets)).toEqual(Array(5).fill("unchanged"));

    const nc = await connectMesh({ server: broker.url });
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const s of jsm.streams.list()) names.push(s.config.name);
    expect(names.sort()).toEqual([
      "DLQ-clawd",
      "DLQ-nova",
      "EVENTS",
      "HISTORY-clawd",
      "HISTORY-nova",
      "HOOKS-clawd",
      "HOOKS-nova",
      "INBOX-clawd",
      "INBOX-nova",
      "JOBS",
      "KV_mesh-a2a-clawd",
      "KV_mesh-a2a-nova",
      "KV_mesh-alerts",
      "KV_mesh-identities",
      "KV_mesh-jobs-clawd",
      "KV_mesh-jobs-nova",
      "KV_mesh-leader",
      "KV_mesh-presence",
      "KV_mesh-xkeys",
      "REPLIES-clawd",
      "REPLIES-nova",
    ]);
    // A drifted setting is put back by the next provision.
    const info = await jsm.streams.info("EVENTS");
    await jsm.streams.update("EVENTS", { ...info.config, max_bytes: 1024 * 1024 });
    expect((await provision(nc)).streams.EVENTS).toBe("updated");
    expect((await jsm.streams.info("EVENTS")).config.max_bytes).toBe(1024 ** 3);
    await nc.close();
  });

  it("a broker with the shared INBOX and DLQ streams of an earlier version: provision refuses (exit 2) saying how to upgrade; --drop-legacy deletes them and makes the per-identity streams", async () => {
    const old = await startMesh({ provision: false });
    try {
      const nc = await connectMesh({ server: old.broker.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "INBOX", subjects: ["agent.*.inbox"] });
      await jsm.streams.add({ name: "DLQ", subjects: ["dlq.>"] });
      const e = { ...env, MESH_SERVER: old.broker.url };
      const refused = await mesh(["broker", "provision", "--for", "nova"], { env: e });
      expect(refused.code).toBe(2);
      expect(refused.stderr.trim()).toBe(
        "mesh: this broker has the shared INBOX (0 messages) and DLQ (0 messages) stream of an earlier openclaw-mesh; let the sidecars deliver what waits (mesh top: 0 waiting), then run `mesh broker provision --drop-legacy` to delete it and make one inbox per identity",
      );
      const upgraded = await mesh(["broker", "provision", "--for", "nova", "--drop-legacy", "--json"], { env: e });
      expect(upgraded.code, upgraded.stderr).toBe(0);
      expect(JSON.parse(upgraded.stdout).streams).toMatchObject({ INBOX: "deleted", DLQ: "deleted", "INBOX-nova": "created", "DLQ-nova": "created" });
      const names: string[] = [];
      for await (const n of jsm.streams.names()) names.push(n);
      expect(names).not.toContain("INBOX");
      await nc.close();
    } finally {
      await old.stop();
    }
  });

  it("send prints the id and sequence; sub --last replays it", async () => {
    const sent = await mesh(["send", "nova", "hello"], { env });
    expect(sent.code).toBe(0);
    const m = /^sent ([0-9a-f-]{36}) to nova \(INBOX-nova seq (\d+)\)$/.exec(sent.stdout.trim());
    expect(m, sent.stdout).not.toBeNull();

    const replay = await mesh(["sub", "agent.nova.inbox", "--last", "1", "--count", "1", "--json"], { env });
    expect(replay.code).toBe(0);
    const line = JSON.parse(replay.stdout.trim());
    expect(line.seq).toBe(Number(m![2]));
    expect(line.envelope).toMatchObject({ v: 1, id: m![1], from: "clawd", to: "nova", kind: "message", body: "hello" });

    const human = await mesh(["sub", "agent.nova.inbox", "--last", "1", "--count", "1"], { env });
    expect(human.stdout).toMatch(/agent\.nova\.inbox\.clawd {2}message clawd → nova: hello/);
  });

  it("sub --last N returns exactly the newest N of the filtered subject", async () => {
    expect((await mesh(["broker", "provision", "--for", "lyra"], { env })).code).toBe(0);
    for (const t of ["one", "two", "three"]) expect((await mesh(["send", "lyra", t], { env })).code).toBe(0);
    await mesh(["send", "nova", "other inbox"], { env });
    const r = await mesh(["sub", "agent.lyra.inbox", "--last", "2", "--count", "2", "--json"], { env });
    expect(r.stdout.trim().split("\n").map((l) => JSON.parse(l).envelope.body)).toEqual(["two", "three"]);
  });

  it("sub --since prints the stored event (replay), then an event published only after that line was printed (live)", async () => {
    const tag = randomUUID();
    const pub1 = await mesh(["pub", "events.clawd.note", JSON.stringify({ n: 1, tag }), "--json"], { env });
    expect(pub1.code, pub1.stderr).toBe(0);
    const first = JSON.parse(pub1.stdout) as { stream: string; seq: number; id: string };
    expect(first.stream).toBe("EVENTS");
    const watcher = watch(["sub", "events.clawd.note", "--since", "1m", "--count", "2", "--json"], env);
    // The replay: the stored event, printed before the live one exists.
    const replayed = await until("the replayed line", () => watcher.lines.find((l) => l.json.envelope?.id === first.id), 20_000);
    const pubStartedAt = Date.now();
    const pub2 = await mesh(["pub", "events.clawd.note", JSON.stringify({ n: 2, tag }), "--json"], { env });
    expect(pub2.code, pub2.stderr).toBe(0);
    const second = JSON.parse(pub2.stdout) as { stream: string; seq: number; id: string };
    const out = await watcher.done;
    expect(out.code, out.stderr).toBe(0);
    expect(watcher.lines.map((l) => l.json.envelope?.body)).toEqual([
      { n: 1, tag },
      { n: 2, tag },
    ]);
    expect(replayed.json).toMatchObject({ seq: first.seq, envelope: { kind: "event", type: "note", from: "clawd" } });
    // Live: the subscriber had already printed the replay when the event was published, and
    // printed it afterwards, with the sequence the broker gave the publish.
    const live = watcher.lines[1]!;
    expect(replayed.at).toBeLessThanOrEqual(pubStartedAt);
    expect(live.at).toBeGreaterThanOrEqual(pubStartedAt);
    expect(live.json).toMatchObject({ seq: second.seq, envelope: { id: second.id } });
    expect(second.seq).toBeGreaterThan(first.seq);
  });

  it("live sub sees core messages; pub reads stdin", async () => {
    const watcher = mesh(["sub", "scratch.>", "--count", "1", "--json"], { env });
    await new Promise((r) => setTimeout(r, 1000));
    const p = await mesh(["pub", "--raw", "scratch.a"], { env, input: "from stdin\n" });
    expect(p.code).toBe(0);
    const out = await watcher;
    expect(JSON.parse(out.stdout.trim())).toMatchObject({ subject: "scratch.a", data: "from stdin" });
  });

  it("a retried send with the same id is stored once (Nats-Msg-Id)", async () => {
    const env1 = JSON.stringify({ v: 1, id: "fixed-id-123456", from: "clawd", to: "nova", time: new Date().toISOString(), kind: "message", body: "once" });
    const a = await mesh(["pub", "agent.nova.inbox", env1, "--json"], { env });
    const b = await mesh(["pub", "agent.nova.inbox", env1, "--json"], { env });
    expect(JSON.parse(a.stdout).duplicate).toBe(false);
    expect(JSON.parse(b.stdout)).toMatchObject({ duplicate: true, seq: JSON.parse(a.stdout).seq });
  });

  it("status reports streams and inbox consumers", async () => {
    const r = await mesh(["broker", "status", "--json"], { env });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.server.jetstream).toBe(true);
    expect(s.streams.every((x: { present: boolean }) => x.present)).toBe(true);
    expect(s.inboxConsumers.map((c: { name: string }) => c.name)).toContain("inbox-nova");
  });
});

describe("CLI errors are one line and a non-zero exit", () => {
  const oneLine = (s: string) => s.trim().split("\n").length === 1 && !/\bat .*\(.*:\d+:\d+\)/.test(s);

  it.each([
    [["send", "no.va", "hi"], /invalid recipient identity "no\.va": it contains a dot/],
    [["send", "nova*", "hi"], /wildcard/],
    [["send", "no va", "hi"], /whitespace/],
    [["pub", "events.>", "x"], /wildcards/],
    [["sub", "a..b"], /empty token/],
    [["sub", "events.>", "--since", "soon"], /invalid duration/],
    [["sub", "events.>", "--last", "x"], /whole number/],
  ])("mesh %j", async (args, re) => {
    const r = await mesh(args as string[], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(re);
    expect(oneLine(r.stderr)).toBe(true);
  });

  it("unreachable broker", async () => {
    const r = await mesh(["send", "nova", "hi"], { env: { ...env, MESH_SERVER: "nats://127.0.0.1:1" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mesh: cannot reach the broker at nats:\/\/127\.0\.0\.1:1 .*mesh up/);
    expect(oneLine(r.stderr)).toBe(true);
  });

  it("bad config file names the field", async () => {
    const p = join(env.MESH_HOME!, "bad.json");
    writeFileSync(p, JSON.stringify({ identity: "nova", broker: { port: "4222" } }));
    const r = await mesh(["send", "nova", "hi", "--config", p], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.json: broker\.port: /);
    expect(oneLine(r.stderr)).toBe(true);
  });

  it("replaying a subject no stream stores", async () => {
    const r = await mesh(["sub", "scratch.x", "--last", "1"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no stream stores scratch\.x/);
  });
});
