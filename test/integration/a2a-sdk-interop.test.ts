/**
 * Interop proof: the official A2A SDK's *client* (@a2a-js/sdk/client, not this project's code)
 * talks to nova through clawd's sidecar, as "another Mac" would: a client token of its own
 * (sidecar.a2aClients), the card fetched from the sidecar, JSON-RPC and REST. REAL OpenClaw
 * gateways on both sides (channels.a2a), a real nats-server, and a model server on loopback.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientFactory, JsonRpcTransportFactory, RestTransportFactory, type Client } from "@a2a-js/sdk/client";
import { Role, TaskState, type Message, type StreamResponse } from "@a2a-js/sdk";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { freePort, gatewayPorts } from "../support/ports.js";
import { storedEnvelopes, until } from "../support/sidecar.js";
import { startGateway, type Gateway } from "../support/openclaw/gateway.js";
import { startModelServer, type ModelServer } from "../support/openclaw/model-server.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const CLIENT_TOKEN = "laptop-client-token-0123456789abcdef";
let m: TestMesh;
let nc: NatsConnection;
let model: ModelServer;
let clawdPort: number;
let novaPort: number;
let clientTokenFile: string;
const gw: Record<string, Gateway> = {};
const sidecars: Record<string, Sidecar & { stateDir: string }> = {};

function sidecarFor(id: string, g: Gateway, extra: { httpPort?: number; stateDir?: string } = {}) {
  return m.sidecar(id, {
    gatewayUrl: g.url,
    hooksToken: g.hooksToken,
    gatewayToken: g.gatewayToken,
    gatewayConfigFile: g.configFile,
    jobs: false,
    ...(id === "clawd" ? { a2aClients: [{ name: "laptop", tokenFile: clientTokenFile }] } : {}),
    ...extra,
  });
}

/** The SDK's client for nova through clawd's sidecar, with the laptop's token on every call. */
async function novaClient(binding: "JSONRPC" | "HTTP+JSON" = "JSONRPC"): Promise<Client> {
  const fetchImpl: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${CLIENT_TOKEN}`);
    return fetch(input, { ...init, headers });
  };
  const factory = new ClientFactory({
    transports: [new JsonRpcTransportFactory({ fetchImpl }), new RestTransportFactory({ fetchImpl })],
    preferredTransports: [binding],
  });
  return factory.createFromUrl(`http://127.0.0.1:${clawdPort}/a2a/peers/nova/`);
}

function userMessage(text: string, messageId = `m-${Math.random().toString(36).slice(2)}`): Message {
  return {
    messageId,
    contextId: "",
    taskId: "",
    role: Role.ROLE_USER,
    parts: [{ content: { $case: "text", value: text }, metadata: undefined, filename: "", mediaType: "text/plain" }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

const send = (text: string, opts: { messageId?: string; returnImmediately?: boolean } = {}) => ({
  tenant: "",
  message: userMessage(text, opts.messageId),
  configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately: opts.returnImmediately ?? false },
  metadata: undefined,
});

/** One line per stream event: its kind and state (or the artifact's text). */
function describeEvent(e: StreamResponse): string {
  const p = e.payload;
  if (!p) return "empty";
  switch (p.$case) {
    case "task":
      return `task ${TaskState[p.value.status?.state ?? 0]}`;
    case "statusUpdate":
      return `status ${TaskState[p.value.status?.state ?? 0]}`;
    case "artifactUpdate":
      return `artifact ${p.value.artifact?.parts.map((x) => (x.content?.$case === "text" ? x.content.value : "")).join("")}`;
    case "message":
      return "message";
  }
}

async function restartClawd(): Promise<void> {
  await sidecars.clawd!.stop("test: restart");
  sidecars.clawd = await sidecarFor("clawd", gw.clawd!, { httpPort: clawdPort, stateDir: sidecars.clawd!.stateDir });
}

const answerOf = (t: { artifacts: Array<{ parts: Array<{ content?: { $case: string; value: unknown } }> }> }) =>
  t.artifacts.flatMap((a) => a.parts.map((p) => (p.content?.$case === "text" ? String(p.content.value) : ""))).join("");

beforeAll(async () => {
  execFileSync("bash", [`${root}/test/support/openclaw/install.sh`], { stdio: "inherit" });
  const dir = mkdtempSync(join(tmpdir(), "mesh-a2a-interop-"));
  clientTokenFile = join(dir, "laptop.token");
  writeFileSync(clientTokenFile, CLIENT_TOKEN, { mode: 0o600 });
  model = await startModelServer();
  model.reply = (r) => {
    const ping = [...r.turn.matchAll(/PING-([a-z0-9]+)/g)].at(-1);
    return ping ? `PONG-${ping[1]}` : "ok";
  };
  model.delayFor = (r) => (r.turn.includes("VERYSLOW") ? 25_000 : r.turn.includes("SLOW") ? 8000 : 0);
  m = await startMesh();
  nc = m.nc;
  const [p1, p2] = await gatewayPorts();
  const a2a = { enabled: true, rateLimitPerMinute: 0, replyTimeoutMs: 5000 };
  // One after the other: two gateways starting at once miss their 60 s on a loaded 2-core machine.
  gw.nova = await startGateway({ port: p1, modelUrl: model.url, a2a });
  gw.clawd = await startGateway({ port: p2, modelUrl: model.url, a2a });
  // Fixed ports (config keys): a sidecar restarted on another port would rewrite its gateway's
  // channels.a2a peer URLs, and the gateway's reload forgets the tasks it holds.
  [clawdPort, novaPort] = [await freePort(), await freePort()];
  sidecars.nova = await sidecarFor("nova", gw.nova!, { httpPort: novaPort });
  sidecars.clawd = await sidecarFor("clawd", gw.clawd!, { httpPort: clawdPort });
  await until("each gateway knows the other identity as an A2A peer", () => {
    const peersOf = (g: Gateway) => Object.keys((JSON.parse(readFileSync(g.configFile, "utf8")) as { channels: { a2a: { peers: object } } }).channels.a2a.peers);
    return peersOf(gw.nova!).includes("clawd") && peersOf(gw.clawd!).includes("nova");
  }, 30_000);
  await until("nova's gateway serves /a2a/v1", async () => (await fetch(`${gw.nova!.url}/a2a/v1`, { method: "POST", body: "{}" }).then((r) => r.status, () => 0)) === 401, 60_000);
}, 300_000);

afterAll(async () => {
  await m?.stopSidecars().catch(() => undefined);
  await Promise.all(Object.values(gw).map((g) => g.stop()));
  await model?.close();
  await m?.stop();
});

describe("the A2A SDK's client against a sidecar (real gateways)", () => {
  it("the SDK client reads nova's card from clawd's sidecar: streaming on, JSON-RPC and REST interfaces", async () => {
    const client = await novaClient();
    const card = await client.getAgentCard();
    expect(card.capabilities?.streaming).toBe(true);
    expect(card.supportedInterfaces.map((i) => [i.protocolBinding, i.url])).toEqual([
      ["JSONRPC", `http://127.0.0.1:${clawdPort}/a2a/peers/nova/v1`],
      ["HTTP+JSON", `http://127.0.0.1:${clawdPort}/a2a/peers/nova/rest`],
    ]);
  });

  it("sendMessageStream: the task SUBMITTED (stored), WORKING (delivered to nova's gateway), the answer as an artifact, then COMPLETED", async () => {
    const client = await novaClient();
    const t0 = Date.now();
    const events: Array<{ what: string; at: number }> = [];
    for await (const e of client.sendMessageStream(send("please answer PING-s1"))) events.push({ what: describeEvent(e), at: Date.now() - t0 });
    console.log(`SDK client stream through clawd's sidecar: ${events.map((e) => `${e.what} @${e.at} ms`).join(", ")}`);
    expect(events.map((e) => e.what)).toEqual(["task TASK_STATE_SUBMITTED", "status TASK_STATE_WORKING", "artifact PONG-s1", "status TASK_STATE_COMPLETED"]);
  });

  it("sendMessage over REST, then getTask and listTasks return the completed task with its answer", async () => {
    const client = await novaClient("HTTP+JSON");
    const r = await client.sendMessage(send("over rest PING-r1"));
    expect("status" in r && r.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    const id = (r as { id: string }).id;
    const got = await client.getTask({ tenant: "", id, historyLength: undefined });
    expect([got.status?.state, answerOf(got)]).toEqual([TaskState.TASK_STATE_COMPLETED, "PONG-r1"]);
    const list = await client.listTasks({ tenant: "", contextId: "", status: TaskState.TASK_STATE_UNSPECIFIED, pageToken: "", statusTimestampAfter: undefined, includeArtifacts: true });
    expect(list.tasks.map((t) => t.id)).toContain(id);
  });

  it("the same messageId sent twice returns the same task, and nova's model runs the turn once", async () => {
    const client = await novaClient();
    const first = await client.sendMessage(send("once only PING-d1", { messageId: "dup-0001" }));
    const again = await client.sendMessage(send("once only PING-d1", { messageId: "dup-0001" }));
    expect((again as { id: string }).id).toBe((first as { id: string }).id);
    await new Promise((r) => setTimeout(r, 3000));
    expect(model.requests.filter((q) => q.turn.includes("PING-d1"))).toHaveLength(1);
  });

  it("cancelTask of a message already at nova's gateway is refused (TaskNotCancelable) with the reason; the task still completes", async () => {
    const client = await novaClient();
    const t = (await client.sendMessage(send("take your time SLOW PING-c1", { returnImmediately: true }))) as { id: string };
    await until("the task is WORKING (delivered)", async () => (await client.getTask({ tenant: "", id: t.id, historyLength: undefined })).status?.state === TaskState.TASK_STATE_WORKING, 60_000);
    const err = await client.cancelTask({ tenant: "", id: t.id, metadata: undefined }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/already delivered to nova's gateway.*cannot abort it/);
    await until("it completes", async () => (await client.getTask({ tenant: "", id: t.id, historyLength: undefined })).status?.state === TaskState.TASK_STATE_COMPLETED, 60_000);
  }, 120_000);

  it("cancelTask of a message nova's sidecar has not delivered yet (nova's sidecar stopped) makes the task CANCELED and says the message stays in nova's inbox", async () => {
    await sidecars.nova!.stop("test: nova asleep");
    try {
      const client = await novaClient();
      const t = (await client.sendMessage(send("while asleep PING-z1", { returnImmediately: true }))) as { id: string; status?: { state: TaskState } };
      expect(t.status?.state).toBe(TaskState.TASK_STATE_SUBMITTED);
      const c = await client.cancelTask({ tenant: "", id: t.id, metadata: undefined });
      expect(c.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
      const note = c.status?.message?.parts.map((p) => (p.content?.$case === "text" ? p.content.value : "")).join("");
      expect(note).toMatch(/stays in nova's inbox/);
    } finally {
      sidecars.nova = await sidecarFor("nova", gw.nova!, { httpPort: novaPort, stateDir: sidecars.nova!.stateDir });
    }
  }, 120_000);

  it("clawd's sidecar restarted mid-task: resubscribeTask on the new one gets the task back and streams its answer and COMPLETED; a task completed before the restart is still there with its answer", async () => {
    const client = await novaClient();
    const before = (await client.sendMessage(send("before the restart PING-b1"))) as { id: string };
    const t = (await client.sendMessage(send("long one VERYSLOW PING-k1", { returnImmediately: true }))) as { id: string };
    await until("the task is WORKING (at nova's gateway)", async () => (await client.getTask({ tenant: "", id: t.id, historyLength: undefined })).status?.state === TaskState.TASK_STATE_WORKING, 60_000);
    await restartClawd();
    const again = await novaClient();
    const events: string[] = [];
    for await (const e of again.resubscribeTask({ tenant: "", id: t.id })) events.push(describeEvent(e));
    console.log(`resubscribed after a restart: ${events.join(", ")}`);
    expect(events).toEqual(["task TASK_STATE_WORKING", "artifact PONG-k1", "status TASK_STATE_COMPLETED"]);
    const done = await again.getTask({ tenant: "", id: before.id, historyLength: undefined });
    expect([done.status?.state, answerOf(done)], JSON.stringify(done.status?.message?.parts)).toEqual([TaskState.TASK_STATE_COMPLETED, "PONG-b1"]);
  }, 180_000);

  it("the answer came while clawd's sidecar was down: after its restart GetTask returns the task COMPLETED with that answer (read back from REPLIES-clawd)", async () => {
    const client = await novaClient();
    const t = (await client.sendMessage(send("while you are away SLOW PING-w1", { returnImmediately: true }))) as { id: string };
    await until("the task is WORKING (at nova's gateway)", async () => (await client.getTask({ tenant: "", id: t.id, historyLength: undefined })).status?.state === TaskState.TASK_STATE_WORKING, 60_000);
    await sidecars.clawd!.stop("test: clawd's Mac asleep");
    const answered = await until("nova answered the ask (ask.answered)", async () => (await storedEnvelopes(nc, "EVENTS", "events.nova.ask.answered")).find((e) => (e.body as { id: string }).id === t.id), 90_000);
    expect((answered.body as { status: string }).status).toBe("ok");
    sidecars.clawd = await sidecarFor("clawd", gw.clawd!, { httpPort: clawdPort, stateDir: sidecars.clawd!.stateDir });
    const again = await novaClient();
    const got = await until("the task is COMPLETED after the restart", async () => {
      const x = await again.getTask({ tenant: "", id: t.id, historyLength: undefined });
      return x.status?.state === TaskState.TASK_STATE_COMPLETED ? x : undefined;
    }, 30_000);
    expect(answerOf(got)).toBe("PONG-w1");
  }, 180_000);

  it("nova's gateway reloads channels.a2a while the turn runs (a peer added by hand) and forgets the task: the answer is read back from the session transcript and the task COMPLETES with it", async () => {
    const client = await novaClient();
    const t = (await client.sendMessage(send("through a reload VERYSLOW PING-l1", { returnImmediately: true }))) as { id: string };
    await until("the task is WORKING (at nova's gateway)", async () => (await client.getTask({ tenant: "", id: t.id, historyLength: undefined })).status?.state === TaskState.TASK_STATE_WORKING, 60_000);
    const cfg = JSON.parse(readFileSync(gw.nova!.configFile, "utf8")) as { channels: { a2a: { peers: Record<string, unknown> } } };
    cfg.channels.a2a.peers.hermes = { token: "hermes-by-hand-token-0123456789", url: "https://hermes.example/a2a/v1" };
    writeFileSync(gw.nova!.configFile, JSON.stringify(cfg, null, 2));
    await until("nova's gateway reloaded its A2A peers", () => /hot reload applied.*a2a/i.test(gw.nova!.logs()), 30_000);
    const done = await until("the task ends", async () => {
      const x = await client.getTask({ tenant: "", id: t.id, historyLength: undefined });
      return x.status && x.status.state !== TaskState.TASK_STATE_WORKING ? x : undefined;
    }, 120_000);
    expect([done.status?.state, answerOf(done)], JSON.stringify(done.status?.message?.parts)).toEqual([TaskState.TASK_STATE_COMPLETED, "PONG-l1"]);
  }, 200_000);

  it("a wrong token is refused with 401 before the SDK sees the request", async () => {
    const r = await fetch(`http://127.0.0.1:${clawdPort}/a2a/peers/nova/v1`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer not-the-token-0000000000" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "x" } }),
    });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/unauthorized/);
  });
});
