/**
 * The sidecar against REAL OpenClaw gateways (npm package, Node 24, isolated HOMEs), with a model
 * server on loopback that the test controls. Two identities, two gateways, two sidecars, one broker.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { sendMessage } from "../../src/bus/publish.js";
import { gatewayCall } from "../../src/agent/openclaw-rpc.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { gatewayPorts } from "../support/ports.js";
import { storedEnvelopes, until } from "../support/sidecar.js";
import { startGateway, type Gateway } from "../support/openclaw/gateway.js";
import { startModelServer, type ModelServer } from "../support/openclaw/model-server.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let model: ModelServer;
const gw: Record<string, Gateway> = {};
const sidecars: Record<string, Sidecar> = {};

/** The session transcript as the gateway shows it (chat.history, operator.read), on a connection of its own. */
async function transcript(g: Gateway, sessionKey: string): Promise<Array<{ role: string; text: string }>> {
  const r = await gatewayCall({ url: g.url, token: g.gatewayToken, scopes: ["operator.read"], method: "chat.history", params: { sessionKey, limit: 100 } });
  if (!r.ok) throw new Error(`chat.history: ${r.code} ${r.message}`);
  const messages = (r.payload as { messages?: Array<{ role: string; content?: unknown }> }).messages ?? [];
  const text = (c: unknown): string =>
    typeof c === "string" ? c : Array.isArray(c) ? c.filter((p: { type?: string; text?: string }) => p.type === "text").map((p: { text?: string }) => p.text ?? "").join("") : "";
  return messages.map((m) => ({ role: m.role, text: text(m.content) }));
}

async function startSidecarFor(identity: string, g: Gateway, hooksToken = g.hooksToken, jobs = true): Promise<Sidecar> {
  return m.sidecar(identity, { gatewayUrl: g.url, hooksToken, gatewayToken: g.gatewayToken, ...(jobs ? {} : { jobs: false as const }) });
}

beforeAll(async () => {
  execFileSync("bash", [`${root}/test/support/openclaw/install.sh`], { stdio: "inherit" });
  model = await startModelServer();
  // PING-<token> in the conversation → PONG-<token> (the last one asked).
  model.reply = (r) => {
    const pings = [...r.allUser.matchAll(/PING-([a-z0-9]+)/g)];
    return pings.length ? `PONG-${pings[pings.length - 1]![1]}` : "ok";
  };
  m = await startMesh();
  ({ broker, nc } = m);
  const [p1, p2] = await gatewayPorts();
  const started = Date.now();
  [gw.nova, gw.clawd] = await Promise.all([
    startGateway({ port: p1, modelUrl: model.url }),
    startGateway({ port: p2, modelUrl: model.url }),
  ]);
  console.log(`two gateways ready in ${Date.now() - started} ms`);
  sidecars.nova = await startSidecarFor("nova", gw.nova!);
  sidecars.clawd = await startSidecarFor("clawd", gw.clawd!);
  await until("both gateway websockets", () => Object.values(sidecars).every((s) => s.agent.events?.connected?.()), 60_000);
}, 240_000);

afterAll(async () => {
  await m?.stopSidecars().catch(() => undefined);
  await Promise.all(Object.values(gw).map((g) => g.stop()));
  await model?.close();
  await m?.stop();
});

describe("sidecar ↔ real OpenClaw gateway", () => {
  it("a message on the bus starts a real agent turn whose prompt contains the text", async () => {
    const t0 = Date.now();
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "hello nova, token ALPHA-7" });
    const req = await model.waitForRequest((r) => r.allUser.includes("hello nova, token ALPHA-7"), 60_000);
    console.log(`bus → model request: ${req.at - t0} ms`);
    expect(req.model).toBe("stub-1");
    expect(req.allUser).toContain("[mesh] message from clawd");
    const delivered = await until("delivered event", async () => {
      const ev = await storedEnvelopes(nc, "EVENTS", "events.nova.message.delivered");
      return ev.find((e) => (e.body as { id: string }).id === sent.id);
    });
    expect((delivered.body as { runId?: string }).runId).toMatch(/^[0-9a-f-]{36}$/);
    // The gateway's own lifecycle is mirrored onto the bus.
    const runs = await until("mirrored run lifecycle", async () => {
      const ev = await storedEnvelopes(nc, "EVENTS", "events.nova.gateway.run.>");
      const mine = ev.filter((e) => (e.body as { sessionKey?: string }).sessionKey === "agent:main:mesh:clawd");
      return mine.some((e) => e.type === "gateway.run.completed") && mine;
    }, 60_000);
    expect(runs.map((e) => e.type)).toContain("gateway.run.started");
  });

  it("mesh ask returns the model's reply across two gateways", async () => {
    const t0 = Date.now();
    const a = await mesh(["ask", "nova", "please answer PING-q1", "--timeout", "90s", "--json"], {
      env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" },
      timeoutMs: 120_000,
    });
    console.log(`mesh ask round trip (CLI, real gateway): ${Date.now() - t0} ms`);
    expect(a.stderr).toBe("");
    expect(a.code).toBe(0);
    const out = JSON.parse(a.stdout);
    expect(out).toMatchObject({ status: "ok", reply: "PONG-q1" });

    const b = await mesh(["ask", "clawd", "and you? PING-q2", "--timeout", "90s"], {
      env: { MESH_SERVER: broker.url, MESH_IDENTITY: "nova" },
      timeoutMs: 120_000,
    });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout.trim()).toBe("PONG-q2");
    const answered = await storedEnvelopes(nc, "EVENTS", "events.clawd.ask.answered");
    expect(answered.at(-1)!.body).toMatchObject({ from: "nova", status: "ok" });
  });

  it("a job runs as a real agent turn and the model's reply becomes its result (--wait)", async () => {
    const t0 = Date.now();
    const r = await mesh(["job", "submit", "compute PING-job1 please", "--wait", "--timeout", "90s", "--json"], {
      env: { MESH_SERVER: broker.url, MESH_IDENTITY: "lyra" },
      timeoutMs: 120_000,
    });
    console.log(`job submit --wait round trip (real gateway): ${Date.now() - t0} ms`);
    expect(r.code, r.stderr).toBe(0);
    const job = JSON.parse(r.stdout);
    expect(job).toMatchObject({ state: "done", result: "PONG-job1", attempts: 1 });
    expect(["nova", "clawd"]).toContain(job.worker);
    await model.waitForRequest((q) => q.allUser.includes("compute PING-job1 please") && q.allUser.includes(`[mesh job ${job.id}]`), 5_000);
  });

  it("gateway stopped → 5 messages wait → gateway started → each delivered exactly once, in order", async () => {
    await gw.nova!.stop();
    for (let i = 0; i < 5; i++) await sendMessage(nc, { from: "lyra", to: "nova", body: `queued-${i} while down` });
    await until("sidecar sees the gateway down", () => sidecars.nova!.gatewayStatus === "down", 30_000);
    await gw.nova!.start();
    await until("5 delivered", async () => {
      const ev = await storedEnvelopes(nc, "EVENTS", "events.nova.message.delivered");
      return ev.filter((e) => (e.body as { from: string }).from === "lyra").length >= 5;
    }, 90_000);
    const history = await until("transcript has all 5", async () => {
      const h = await transcript(gw.nova!, "mesh:lyra").catch(() => []);
      return h.filter((m) => m.role === "user" && /queued-\d while down/.test(m.text)).length >= 5 && h;
    }, 60_000);
    const users = history.filter((m) => m.role === "user").flatMap((m) => [...m.text.matchAll(/queued-(\d) while down/g)].map((x) => x[1]));
    expect(users).toEqual(["0", "1", "2", "3", "4"]);
    const kinds = (await storedEnvelopes(nc, "EVENTS", "events.nova.gateway.>")).map((e) => e.type);
    expect(kinds).toContain("gateway.unreachable");
    expect(kinds.lastIndexOf("gateway.reachable")).toBeGreaterThan(kinds.lastIndexOf("gateway.unreachable"));
  }, 240_000);

  it("an alert's deliver/channel/to reach the real gateway's delivery validation (400: this host has no iMessage account)", async () => {
    const { runAction } = await import("../../src/features/hooks/actions.js");
    const { openclawHooksAgent } = await import("../../src/agent/openclaw-hooks/adapter.js");
    const { ruleSchema } = await import("../../src/features/hooks/rules.js");
    const { sampleEvent } = await import("../../src/features/hooks/sample.js");
    const rule = ruleSchema.parse({ name: "page-me", on: "events.*.job.failed", action: { type: "alert", message: "job failed on {{from}}", channel: "imessage", to: "+15166334684" } });
    const { subject, env } = sampleEvent(rule, "nova");
    const agent = openclawHooksAgent({ endpoint: { url: gw.nova!.url, hooksPath: "/hooks", hooksToken: gw.nova!.hooksToken } });
    const res = await runAction(rule.action, env, subject, { agent, ruleName: rule.name });
    // This test gateway has no iMessage account, so it refuses the *delivery coordinates* (400) — proof
    // that deliver/channel/to reached its delivery validation; on a Mac with iMessage it answers 200.
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.status).toBe(400);
    expect(res.retryable).toBe(false);
    expect(res.reason).toMatch(/channel|imessage|account|deliver/i);
  });

  it("mesh doctor against the real gateway: hooks token accepted without starting a turn", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "mesh-doctor-"));
    writeFileSync(join(dir, "hooks"), gw.clawd!.hooksToken, { mode: 0o600 });
    writeFileSync(join(dir, "bad"), "wrong-token-xyz", { mode: 0o600 });
    const cfg = (file: string) => JSON.stringify({ identity: "clawd", server: broker.url, gateway: { url: gw.clawd!.url, hooksTokenFile: join(dir, file) } });
    writeFileSync(join(dir, "ok.json"), cfg("hooks"), { mode: 0o600 });
    writeFileSync(join(dir, "bad.json"), cfg("bad"), { mode: 0o600 });
    const requestsBefore = model.requests.length;
    const ok = JSON.parse((await mesh(["doctor", "--json", "--config", join(dir, "ok.json")], { env: { HOME: dir } })).stdout);
    expect(ok.checks.find((c: { name: string }) => c.name === "hooks token")).toMatchObject({ status: "ok", detail: "accepted (400)" });
    const bad = JSON.parse((await mesh(["doctor", "--json", "--config", join(dir, "bad.json")], { env: { HOME: dir } })).stdout);
    expect(bad.checks.find((c: { name: string }) => c.name === "hooks token")).toMatchObject({ status: "fail" });
    await new Promise((r) => setTimeout(r, 1000));
    expect(model.requests.slice(requestsBefore).filter((q) => !q.allUser.includes("Heartbeat") && !q.allUser.includes("Skill"))).toHaveLength(0);
  });

  it("a wrong hooks token → dead-letter with the reason; the sidecar stays up", async () => {
    const bad = await startSidecarFor("vega", gw.clawd!, "not-the-hooks-token", false);
    sidecars.vega = bad;
    await sendMessage(nc, { from: "clawd", to: "vega", body: "will be refused" });
    await sendMessage(nc, { from: "clawd", to: "vega", body: "also refused" });
    const dead = await until("2 dead letters", async () => {
      const d = await storedEnvelopes(nc, "DLQ-vega", "dlq.vega.inbox.*");
      return d.length >= 2 && d;
    }, 30_000);
    expect((dead[0]!.body as { reason: string }).reason).toMatch(/^gateway refused it: HTTP 401/);
    expect(bad.inbox.stats).toMatchObject({ deadLettered: 2, delivered: 0 });
    expect(bad.nc.isClosed()).toBe(false);
  });
});
