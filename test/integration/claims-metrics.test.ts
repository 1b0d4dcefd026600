/**
 * README (Operations): the sidecar's `/metrics` (Prometheus: deliveries, retries, dead letters, inbox
 * lag, jobs, gateway and broker status, hook counts) and `/healthz` (200 while connected to the
 * broker). Each counter is checked against what happened, counted independently (the hooks
 * stand-in's POST log, dead letters read back from DLQ, events read back from EVENTS).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { sendMessage } from "../../src/bus/publish.js";
import { ask } from "../../src/features/asks/client.js";
import { submitJob, waitForJob } from "../../src/features/jobs/client.js";
import { DeliveredJournal } from "../../src/features/inbox/delivered-journal.js";
import { STREAMS, dlqStreamName } from "../../subjects/names.js";
import { inboxSubject } from "../../subjects/mod.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import type { TestBroker } from "../support/broker.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";
import { storedEnvelopes, stubReplies, until } from "../support/sidecar.js";

/** Prometheus text → sample name (with labels) → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of text.split("\n")) {
    if (!l || l.startsWith("#")) continue;
    const i = l.lastIndexOf(" ");
    out.set(l.slice(0, i), Number(l.slice(i + 1)));
  }
  return out;
}

describe("sidecar /metrics counters", () => {
  let m: TestMesh;
  let nc: NatsConnection;
  let hooks: HooksEndpoint;
  let sidecar: Sidecar;
  let base: string;
  let rx: Awaited<ReturnType<typeof startWebhookReceiver>>;

  beforeAll(async () => {
    m = await startMesh({ provision: { identities: ["nova"] } });
    ({ nc, gateway: hooks } = m);
    rx = await startWebhookReceiver();
    const stateDir = join(mkdtempSync(join(tmpdir(), "mesh-metrics-")), "state");
    // One message "delivered by an earlier run": journaled before the sidecar starts.
    const earlier = await sendMessage(nc, { from: "clawd", to: "nova", body: "#m# journaled earlier" });
    const j = new DeliveredJournal(join(stateDir, "delivered.log"));
    await j.record(earlier.id!);
    j.close();
    sidecar = await m.sidecar("nova", {
      httpPort: 0,
      stateDir,
      replies: stubReplies(hooks, 10),
      jobs: { queues: ["ops"] },
      hooks: [{ name: "done", on: "events.nova.job.completed", action: { type: "webhook", url: rx.url } }],
    });
    base = `http://127.0.0.1:${(sidecar.http!.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await sidecar?.stop();
    await rx?.close();
    await m?.stop();
  });

  it("delivered, retried, dead-lettered, duplicates skipped, lag, jobs, asks, hooks fired, gateway and broker gauges, events published: each equals what happened", async () => {
    // 2 plain messages; 1 answered 503 once then 200 (one retry); 1 refused with 400 (dead letter); 1 not JSON (dead letter).
    let failedOnce = false;
    hooks.respond = (h) => {
      if (h.body.message?.includes("#m# flaky") && !failedOnce) return (failedOnce = true), { status: 503 };
      if (h.body.message?.includes("#m# refused")) return { status: 400 };
      return undefined;
    };
    for (const body of ["#m# one", "#m# two", "#m# flaky", "#m# refused"]) await sendMessage(nc, { from: "clawd", to: "nova", body });
    await jetstream(nc).publish(inboxSubject("nova", "clawd"), "not json at all");
    // 1 ask (answered by the stand-in reply source), 1 job (completed; its event fires the hook rule).
    const answer = await ask(nc, { from: "clawd", to: "nova", text: "#m# question", timeoutMs: 20_000 });
    expect(answer.reply.type).toBe("ok");
    const job = await submitJob(nc, { from: "clawd", task: "#m# job", queue: "ops" });
    expect((await waitForJob(nc, job.id, 20_000)).state).toBe("done");
    await until("the hook rule fired", () => rx.received.length === 1);
    const dead = await until("two inbox dead letters", async () => {
      const d = await storedEnvelopes(nc, dlqStreamName("nova"), "dlq.nova.inbox.*");
      return d.length === 2 && d;
    });
    await until("four inbox turns", () => sidecar.inbox.stats.delivered === 4);
    // Every event the sidecar counted as published is stored (and the other way round), once its PubAcks are in.
    const metrics = async () => parseMetrics(await (await fetch(`${base}/metrics`)).text());
    const stored = await until("events published = events stored", async () => {
      const s = await storedEnvelopes(nc, STREAMS.events, "events.nova.>");
      return s.length === (await metrics()).get('mesh_events_published_total{identity="nova"}') && s;
    });
    const m = await metrics();
    const at = (name: string, extra = "") => m.get(`${name}{identity="nova"${extra}}`);
    // Independent counts: POSTs the stand-in answered 200 as a new turn for a peer's message (the ask counts: it is an inbox delivery).
    const inboxTurns = hooks.postLog.filter((p) => p.turn && p.body?.sessionKey === "mesh:clawd").length;
    expect(inboxTurns).toBe(4); // one, two, flaky, question
    expect(at("mesh_inbox_delivered_total")).toBe(inboxTurns);
    expect(hooks.postLog.filter((p) => p.status === 503).length).toBe(1);
    expect(at("mesh_inbox_retried_total")).toBe(1);
    expect(dead.length).toBe(2);
    expect(at("mesh_inbox_dead_lettered_total")).toBe(2);
    expect(hooks.postLog.filter((p) => p.body?.message?.includes("journaled earlier")).length).toBe(0);
    expect(at("mesh_inbox_duplicates_skipped_total")).toBe(1);
    expect(at("mesh_inbox_lag")).toBe(0);
    expect([at("mesh_jobs_started_total"), at("mesh_jobs_completed_total"), at("mesh_jobs_failed_total")]).toEqual([1, 1, 0]);
    expect(at("mesh_asks_answered_total")).toBe(1);
    expect(at("mesh_hooks_fired_total", ',rule="done"')).toBe(1);
    expect(at("mesh_hooks_dead_lettered_total", ',rule="done"')).toBe(0);
    expect(at("mesh_gateway_up")).toBe(1);
    expect(at("mesh_broker_connected")).toBe(1);
    expect(at("mesh_events_published_total")).toBe(stored.length);
    expect(stored.length).toBeGreaterThanOrEqual(4 + 1 + 2 + 1 + 2); // delivered ×4, retried, dead-lettered ×2, ask.answered, job.started/completed
  });
});

describe("sidecar /healthz follows the broker connection", () => {
  let m: TestMesh;
  let broker: TestBroker;
  let sidecar: Sidecar;

  beforeAll(async () => {
    m = await startMesh({ broker: { fixedPort: true }, provision: { identities: ["lyra"] } });
    broker = m.broker;
    sidecar = await m.sidecar("lyra", { httpPort: 0, jobs: false });
  });

  afterAll(async () => {
    await m?.stop();
  });

  it("200 while connected; broker stopped → 503 {ok:false} and mesh_broker_connected 0; broker started again → 200 and 1", async () => {
    const base = `http://127.0.0.1:${(sidecar.http!.address() as AddressInfo).port}`;
    const health = async () => {
      const r = await fetch(`${base}/healthz`);
      return { status: r.status, body: (await r.json()) as { ok: boolean; identity: string } };
    };
    const connected = async () => parseMetrics(await (await fetch(`${base}/metrics`)).text()).get('mesh_broker_connected{identity="lyra"}');
    expect(await health()).toMatchObject({ status: 200, body: { ok: true, identity: "lyra" } });
    expect(await connected()).toBe(1);
    await broker.down();
    const down = await until("healthz not 200", async () => {
      const h = await health();
      return h.status !== 200 && h;
    }, 15_000);
    expect(down).toEqual({ status: 503, body: { ok: false, identity: "lyra", gateway: expect.any(String) } });
    expect(await connected()).toBe(0);
    await broker.up();
    await until("healthz 200 again", async () => (await health()).status === 200, 30_000);
    expect(await connected()).toBe(1);
  });
});
