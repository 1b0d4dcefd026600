/**
 * README (Events): the sidecar's own lifecycle events, each read back from the EVENTS stream and
 * checked field by field against what happened (the hooks stand-in's POST log, PubAcks, the dead
 * letter). The events mirrored from a gateway's WebSocket (gateway.run.*, gateway.health,
 * gateway.shutdown) need a real gateway: test/integration/sidecar-gateway.test.ts.
 */
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { sendMessage } from "../../src/bus/publish.js";
import { ask } from "../../src/features/asks/client.js";
import { VERSION } from "../../src/base/version.js";
import { eventBodies, inboxSubject, type Envelope } from "../../subjects/mod.js";
import { STREAMS, dlqStreamName } from "../../subjects/names.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import type { TestBroker } from "../support/broker.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { spawnSidecarProcess } from "../support/processes.js";
import { storedEnvelopes, stubReplies, until } from "../support/sidecar.js";

let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let hooks: HooksEndpoint;

beforeAll(async () => {
  m = await startMesh();
  ({ broker, nc, gateway: hooks } = m);
});

afterAll(async () => {
  await m?.stop();
});

/** The events of one identity (optionally one kind), each body checked against its schema. */
async function events(id: string, kind = ">"): Promise<Envelope[]> {
  const all = await storedEnvelopes(nc, STREAMS.events, `events.${id}.${kind}`);
  for (const e of all) eventBodies[e.type as keyof typeof eventBodies].parse(e.body);
  return all;
}

describe("sidecar.started / sidecar.stopped (a `mesh sidecar` process)", () => {
  it.each(["SIGTERM", "SIGINT"] as const)("on start {version, host, capabilities, gateway}; on %s {reason: the signal}; started first, stopped last", async (signal) => {
    const id = `ev-proc-${signal.toLowerCase()}`;
    const p = spawnSidecarProcess({ identity: id, server: broker.url, hooks, capabilities: ["gpu", "build"] });
    await until("sidecar.started stored", async () => (await events(id, "sidecar.started")).length === 1, 30_000);
    await p.stop(signal);
    const all = await until("sidecar.stopped stored", async () => {
      const e = await events(id);
      return e.some((x) => x.type === "sidecar.stopped") && e;
    }, 10_000);
    expect(all[0]!.type).toBe("sidecar.started");
    expect(all[0]!.body).toEqual({ version: VERSION, host: hostname(), capabilities: ["gpu", "build"], gateway: hooks.url });
    expect(all.at(-1)!.type).toBe("sidecar.stopped");
    expect(all.at(-1)!.body).toEqual({ reason: signal });
    expect(all.map((e) => e.from)).toEqual(all.map(() => id));
  });
});

describe("delivery events", () => {
  let s: Sidecar;
  beforeAll(async () => {
    s = await m.sidecar("ev-nova", { jobs: false, replies: stubReplies(hooks, 10) });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("message.delivered: {id, from, seq, runId, attempts, latencyMs} with the PubAck's seq and the runId the gateway answered", async () => {
    const sent = await sendMessage(nc, { from: "clawd", to: "ev-nova", body: "#ev# plain" });
    const [ev] = await until("delivered event", async () => {
      const e = (await events("ev-nova", "message.delivered")).filter((x) => (x.body as { id: string }).id === sent.id);
      return e.length === 1 && e;
    });
    const turn = hooks.received.find((h) => h.body.message?.includes("#ev# plain"))!;
    expect(ev!.body).toEqual({ id: sent.id, from: "clawd", seq: sent.seq, runId: turn.runId, attempts: 1, latencyMs: expect.any(Number) });
  });

  it("message.retried is sent on the first retry only (2 refusals with 503 → one event, attempt 1, nextDelayMs within 250 ms ± 20 %); then message.delivered with attempts 3", async () => {
    let refusals = 2;
    hooks.respond = (h) => (h.body.message?.includes("#ev# flaky") && refusals-- > 0 ? { status: 503 } : undefined);
    const sent = await sendMessage(nc, { from: "clawd", to: "ev-nova", body: "#ev# flaky" });
    const delivered = await until("delivered after retries", async () => (await events("ev-nova", "message.delivered")).find((x) => (x.body as { id: string }).id === sent.id), 20_000);
    hooks.respond = undefined;
    expect((delivered.body as { attempts: number }).attempts).toBe(3);
    const retried = (await events("ev-nova", "message.retried")).filter((x) => (x.body as { id: string }).id === sent.id);
    expect(retried).toHaveLength(1);
    const b = retried[0]!.body as { attempt: number; nextDelayMs: number; reason: string; seq: number; from: string };
    expect({ attempt: b.attempt, seq: b.seq, from: b.from }).toEqual({ attempt: 1, seq: sent.seq, from: "clawd" });
    expect(b.reason).toMatch(/503/);
    expect(b.nextDelayMs).toBeGreaterThanOrEqual(200);
    expect(b.nextDelayMs).toBeLessThanOrEqual(300);
    expect(hooks.postLog.filter((p) => p.body?.message?.includes("#ev# flaky")).map((p) => p.status)).toEqual([503, 503, 200]);
  });

  it("message.dead-lettered: {id, from, seq, reason} with the same reason as the dead letter stored on DLQ", async () => {
    hooks.respond = (h) => (h.body.message?.includes("#ev# refused") ? { status: 400, body: { ok: false, error: "no such session" } } : undefined);
    const sent = await sendMessage(nc, { from: "clawd", to: "ev-nova", body: "#ev# refused" });
    const ev = await until("dead-lettered event", async () => (await events("ev-nova", "message.dead-lettered")).find((x) => (x.body as { id?: string }).id === sent.id));
    hooks.respond = undefined;
    const dlq = (await storedEnvelopes(nc, dlqStreamName("ev-nova"), "dlq.ev-nova.inbox.*")).find((d) => (d.body as { originalId?: string }).originalId === sent.id)!;
    expect(ev.body).toEqual({ id: sent.id, from: "clawd", seq: sent.seq, reason: (dlq.body as { reason: string }).reason });
    expect((ev.body as { reason: string }).reason).toMatch(/^gateway refused it: .*400/);
  });

  it("message.dead-lettered for bytes that are not an envelope: {seq, reason} (no id or sender to name)", async () => {
    const ack = await jetstream(nc).publish(inboxSubject("ev-nova", "ev-clawd"), "{not json");
    const ev = await until("dead-lettered event", async () => (await events("ev-nova", "message.dead-lettered")).find((x) => (x.body as { seq: number }).seq === ack.seq));
    expect(Object.keys(ev.body as object).sort()).toEqual(["reason", "seq"]);
  });

  it("ask.answered: {id, from, runId, status, latencyMs} for the ask's id, status ok", async () => {
    const r = await ask(nc, { from: "clawd", to: "ev-nova", text: "#ev# question", timeoutMs: 20_000 });
    expect(r.reply.type).toBe("ok");
    const ev = await until("ask.answered", async () => (await events("ev-nova", "ask.answered")).find((x) => (x.body as { id: string }).id === r.id));
    const turn = hooks.received.find((h) => h.body.message?.includes("#ev# question"))!;
    expect(ev.body).toEqual({ id: r.id, from: "clawd", runId: turn.runId, status: "ok", latencyMs: expect.any(Number) });
  });

  it("gateway.unreachable {url, reason} when the gateway stops answering, then gateway.reachable {url} once a delivery succeeds again", async () => {
    const before = (await events("ev-nova", "gateway.*")).length;
    await hooks.stop();
    await sendMessage(nc, { from: "clawd", to: "ev-nova", body: "#ev# while down" });
    await until("unreachable", async () => (await events("ev-nova", "gateway.*")).length > before, 15_000);
    await hooks.start();
    await until("delivered after the gateway is back", () => hooks.received.find((h) => h.body.message?.includes("#ev# while down")), 30_000);
    const changes = await until("reachable", async () => {
      const e = (await events("ev-nova", "gateway.*")).slice(before);
      return e.length >= 2 && e;
    });
    expect(changes.map((e) => e.type)).toEqual(["gateway.unreachable", "gateway.reachable"]);
    expect(changes[0]!.body).toEqual({ url: hooks.url, reason: expect.stringMatching(/\S/) });
    expect(changes[1]!.body).toEqual({ url: hooks.url });
  });
});
