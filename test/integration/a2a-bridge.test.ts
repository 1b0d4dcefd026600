/**
 * The A2A bridge against two REAL OpenClaw gateways (channels.a2a on), real nats-server, and a
 * model server on loopback that captures what the model is shown. Identities nova and clawd, each
 * with a sidecar whose config says gateway.bridge "a2a" and points at its gateway's openclaw.json.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { sendMessage } from "../../src/bus/publish.js";
import { openclawHooksAgent } from "../../src/agent/openclaw-hooks/adapter.js";
import { gatewayCall } from "../../src/agent/openclaw-rpc.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { gatewayPorts } from "../support/ports.js";
import { storedEnvelopes, until } from "../support/sidecar.js";
import { startGateway, type Gateway } from "../support/openclaw/gateway.js";
import { startModelServer, type ModelRequest, type ModelServer } from "../support/openclaw/model-server.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let model: ModelServer;
const gw: Record<string, Gateway> = {};
const sidecars: Record<string, Sidecar> = {};


function sidecarFor(id: string, g: Gateway): Promise<Sidecar> {
  return m.sidecar(id, { gatewayUrl: g.url, hooksToken: g.hooksToken, gatewayToken: g.gatewayToken, gatewayConfigFile: g.configFile, jobs: false });
}

/** Model requests whose user text contains `marker`. */
const turnsWith = (marker: string): ModelRequest[] => model.requests.filter((r) => r.turn.includes(marker));

beforeAll(async () => {
  execFileSync("bash", [`${root}/test/support/openclaw/install.sh`], { stdio: "inherit" });
  model = await startModelServer();
  model.reply = (r) => {
    const ping = [...r.turn.matchAll(/PING-([a-z0-9]+)/g)].at(-1);
    if (ping) return `PONG-${ping[1]}`;
    const chat = /CHAT-([a-z0-9]+)/.exec(r.turn);
    if (chat) return `answering CHAT-${chat[1]}`; // a model that always answers
    if (/QUIET-/.test(r.turn)) return "NO_REPLY";
    return "ok";
  };
  model.delayFor = (r) => (r.turn.includes("PING-long") ? 7000 : 0);
  m = await startMesh();
  ({ broker, nc } = m);
  const [p1, p2] = await gatewayPorts();
  // replyTimeoutMs 5000 (its minimum): a turn longer than that outlives the gateway's blocking wait.
  const a2a = { enabled: true, rateLimitPerMinute: 0, replyTimeoutMs: 5000 };
  [gw.nova, gw.clawd] = await Promise.all([startGateway({ port: p1, modelUrl: model.url, a2a }), startGateway({ port: p2, modelUrl: model.url, a2a })]);
  sidecars.nova = await sidecarFor("nova", gw.nova!);
  sidecars.clawd = await sidecarFor("clawd", gw.clawd!);
  // Each sidecar made the other identity a peer of its gateway (from presence), and the gateway reloaded.
  await until("each gateway knows the other identity as an A2A peer", () => {
    const peersOf = (g: Gateway) => Object.keys((JSON.parse(readFileSync(g.configFile, "utf8")) as { channels: { a2a: { peers: object } } }).channels.a2a.peers);
    return peersOf(gw.nova!).includes("clawd") && peersOf(gw.clawd!).includes("nova");
  }, 30_000);
  // The A2A channel starts once it has a peer: /a2a/v1 then answers 401 without a token (404 before).
  const started = Date.now();
  let codes: number[] = [];
  await until("both gateways serve /a2a/v1", async () => {
    codes = await Promise.all([gw.nova!, gw.clawd!].map((g) => fetch(`${g.url}/a2a/v1`, { method: "POST", body: "{}" }).then((r) => r.status, () => 0)));
    return codes.every((c) => c === 401);
  }, 60_000).catch((err: Error) => {
    for (const [name, g] of Object.entries(gw)) console.log(`${name} (${g.configFile}):\n${g.logs().split("\n").filter((l) => /a2a|reload|channel/i.test(l)).slice(-20).join("\n")}`);
    throw new Error(`${err.message} (last answers ${codes.join(", ")})`);
  });
  console.log(`A2A channel serving ${Date.now() - started} ms after the peers were written`);
}, 240_000);

afterAll(async () => {
  await m?.stopSidecars().catch(() => undefined);
  await Promise.all(Object.values(gw).map((g) => g.stop()));
  await model?.close();
  await m?.stop();
});

describe("A2A bridge: agents converse across real gateways", () => {
  it("uses the A2A bridge: the sidecars report bridge openclaw-a2a", () => {
    expect(sidecars.nova!.agent.bridge).toBe("openclaw-a2a");
    expect(sidecars.clawd!.agent.bridge).toBe("openclaw-a2a");
  });

  it("a peer's message reaches the model as a conversation from the named sender, without the webhook wrapper the hooks bridge adds", async () => {
    const t0 = Date.now();
    const r = await mesh(["send", "nova", "hey nova, can you run the test suite on the cackles repo? TOKEN-a1"], { env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" } });
    expect(r.code, r.stderr).toBe(0);
    const req = await model.waitForRequest((q) => q.turn.includes("TOKEN-a1"), 90_000);
    console.log(`first peer message → model request through A2A: ${req.at - t0} ms`);
    expect(req.all).toContain('"sender"');
    expect(req.all).toMatch(/"id":\s*"clawd"/);
    expect(req.all).not.toContain("EXTERNAL_UNTRUSTED_CONTENT");
    expect(req.all).not.toContain("unattended scheduled run");
    console.log(`A2A bridge, this turn as the model is shown it (excerpt):\n${req.turn.slice(0, 700)}`);

    // The same text through the hooks bridge (the old path) to the same gateway, for contrast.
    const hooks = openclawHooksAgent({ endpoint: { url: gw.nova!.url, hooksPath: "/hooks", hooksToken: gw.nova!.hooksToken } });
    const res = await hooks.deliver({ id: "0b6f5c0e-hooks-contrast", from: "clawd", kind: "message", text: "via hooks TOKEN-h1" });
    expect(res.ok).toBe(true);
    const viaHooks = await model.waitForRequest((q) => q.turn.includes("TOKEN-h1"), 90_000);
    expect(viaHooks.all).toContain("EXTERNAL_UNTRUSTED_CONTENT");
    console.log(`hooks bridge, this turn as the model is shown it (excerpt):\n${viaHooks.turn.slice(0, 900)}`);
  }, 200_000);

  it("a second message from the same sender continues the same conversation (the model sees the first)", async () => {
    await sendMessage(nc, { from: "clawd", to: "nova", body: "first of two TOKEN-s1" });
    await model.waitForRequest((q) => q.turn.includes("TOKEN-s1"), 90_000);
    await sendMessage(nc, { from: "clawd", to: "nova", body: "second of two TOKEN-s2" });
    const second = await model.waitForRequest((q) => q.turn.includes("TOKEN-s2"), 90_000);
    expect(second.allUser).toContain("TOKEN-s1");
  });

  it("mesh ask returns the model's reply (the A2A task's artifact)", async () => {
    const t0 = Date.now();
    const a = await mesh(["ask", "nova", "please answer PING-q1", "--timeout", "90s", "--json"], { env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" }, timeoutMs: 120_000 });
    console.log(`mesh ask round trip through A2A: ${Date.now() - t0} ms`);
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ status: "ok", reply: "PONG-q1" });
  });

  it("an ask whose turn outlasts the gateway's blocking wait (model answers after 7 s, replyTimeoutMs 5 s) still returns its reply", async () => {
    const a = await mesh(["ask", "nova", "take your time PING-long", "--timeout", "90s"], { env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" }, timeoutMs: 120_000 });
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.trim()).toBe("PONG-long");
  });

  it("an ask the gateway rejects (a slash command) exits 4 with the gateway's reason", async () => {
    const a = await mesh(["ask", "nova", "/reset everything", "--timeout", "60s"], { env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" }, timeoutMs: 90_000 });
    expect(a.code).toBe(4);
    expect(a.stderr).toMatch(/slash command/i);
  });

  it("`openclaw message send --channel a2a --target nova` on clawd's gateway reaches nova's model as a message from clawd", async () => {
    const r = await gw.clawd!.cli(["message", "send", "--channel", "a2a", "--target", "nova", "-m", "native hello TOKEN-n1"], 90_000);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const req = await model.waitForRequest((q) => q.turn.includes("TOKEN-n1"), 90_000);
    expect(req.all).toMatch(/"id":\s*"clawd"/);
    const sent = await until("conversation.sent on clawd", async () => (await storedEnvelopes(nc, "EVENTS", "events.clawd.conversation.sent")).find((e) => (e.body as { to: string }).to === "nova"));
    expect(sent.body).toMatchObject({ to: "nova", hops: 0 });
  });

  it("two models that always answer: the answer goes back once, the answer to the answer is stopped by the hop limit", async () => {
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "let us talk CHAT-c1" });
    // nova's answer is forwarded to clawd (hops 1)…
    const replied = await until("nova forwards its answer to clawd", async () =>
      (await storedEnvelopes(nc, "EVENTS", "events.nova.conversation.replied")).find((e) => (e.body as { inReplyTo: string }).inReplyTo === sent.id), 90_000);
    expect(replied.body).toMatchObject({ to: "clawd", hops: 1 });
    // …clawd's answer to that answer is not sent back.
    const forwardedId = (replied.body as { id: string }).id;
    const stopped = await until("clawd's sidecar stops the answer to the answer", async () =>
      (await storedEnvelopes(nc, "EVENTS", "events.clawd.conversation.stopped")).find((e) => (e.body as { inReplyTo: string }).inReplyTo === forwardedId), 90_000);
    expect((stopped.body as { reason: string }).reason).toMatch(/hop limit 1/);
    // Turns: nova answered CHAT-c1 once, clawd answered nova's answer once; nothing after.
    await new Promise((r) => setTimeout(r, 5000));
    expect(turnsWith("CHAT-c1")).toHaveLength(2);
  }, 200_000);

  it("an agent that answers NO_REPLY sends nothing back (stopped with the reason)", async () => {
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "just so you know QUIET-z1" });
    const stopped = await until("nova's sidecar stops the silent answer", async () => {
      const ev = await storedEnvelopes(nc, "EVENTS", "events.nova.conversation.stopped");
      return ev.find((e) => (e.body as { inReplyTo: string }).inReplyTo === sent.id);
    }, 90_000);
    expect((stopped.body as { reason: string }).reason).toMatch(/did not answer/);
  });

  it("bad JSON-RPC to the sidecar's endpoint gets a JSON-RPC error (or 401 without the token) and the sidecar keeps working", async () => {
    const base = (() => {
      const cfg = JSON.parse(readFileSync(gw.nova!.configFile, "utf8")) as { channels: { a2a: { peers: Record<string, { url: string; outboundToken: string }> } } };
      return cfg.channels.a2a.peers.clawd!;
    })();
    const post = async (body: string, token = base.outboundToken) => {
      const r = await fetch(base.url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body });
      return { status: r.status, json: (await r.json()) as { error?: { code: number; message: string }; result?: unknown } };
    };
    expect(await post("{ not json")).toMatchObject({ status: 200, json: { error: { code: -32700 } } });
    expect(await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "Nope" }))).toMatchObject({ json: { error: { code: -32601 } } });
    expect(await post(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "SendMessage", params: { message: { parts: [] } } }))).toMatchObject({ json: { error: { code: -32602 } } });
    expect(await post(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "GetTask", params: { id: "nope" } }))).toMatchObject({ json: { error: { code: -32001, message: "Task not found: nope" } } });
    expect((await post(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "SendMessage", params: {} }), "wrong-token")).status).toBe(401);
    // Still alive: a well-formed SendMessage is stored and reaches clawd's model.
    const ok = await post(JSON.stringify({ jsonrpc: "2.0", id: 5, method: "SendMessage", params: { message: { messageId: "curl-msg-0001", role: "ROLE_USER", parts: [{ text: "from a plain JSON-RPC client TOKEN-j1" }] }, configuration: { returnImmediately: true } } }));
    // Stored on clawd's inbox: SUBMITTED (WORKING once clawd's gateway has it).
    expect(ok.json.result).toMatchObject({ task: { status: { state: "TASK_STATE_SUBMITTED" } } });
    await model.waitForRequest((q) => q.turn.includes("TOKEN-j1"), 90_000);
  });

  it("nova's gateway down → messages clawd's agent sends natively arrive once each, in order, when it is back", async () => {
    await gw.nova!.stop();
    // Sent through clawd's gateway's own `send` method, which `openclaw message send` calls (that CLI is
    // the test above; here its ~11 s Node start per message would be the test's whole length).
    for (let i = 0; i < 3; i++) {
      const r = await gatewayCall({ url: gw.clawd!.url, token: gw.clawd!.gatewayToken, scopes: ["operator.write"], method: "send", params: { channel: "a2a", to: "nova", message: `while you were down #${i} TOKEN-d`, idempotencyKey: randomUUID() }, timeoutMs: 90_000 });
      expect(r).toMatchObject({ ok: true });
    }
    await until("nova's sidecar sees its gateway down", () => sidecars.nova!.gatewayStatus === "down", 60_000);
    await gw.nova!.start();
    await until("all 3 reached nova's model", () => [0, 1, 2].every((i) => turnsWith(`while you were down #${i} TOKEN-d`).length > 0), 120_000).catch((err: Error) => {
      console.log(`nova's inbox: ${JSON.stringify(sidecars.nova!.inbox.stats)}; model turns: ${model.requests.slice(-5).map((q) => q.turn.slice(0, 80)).join(" | ")}`);
      console.log(`nova's gateway log:\n${gw.nova!.logs().split("\n").slice(-40).join("\n")}`);
      throw err;
    });
    await new Promise((r) => setTimeout(r, 3000));
    const order = [0, 1, 2].map((i) => turnsWith(`while you were down #${i} TOKEN-d`));
    expect(order.map((t) => t.length)).toEqual([1, 1, 1]);
    expect(order[0]![0]!.at).toBeLessThanOrEqual(order[1]![0]!.at);
    expect(order[1]![0]!.at).toBeLessThanOrEqual(order[2]![0]!.at);
  }, 300_000);
});
