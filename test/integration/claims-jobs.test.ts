/**
 * README (Jobs): cancel of a running job (the worker stops waiting, records cancelled and acks);
 * `sidecar.jobConcurrency` jobs at once; a failed run goes back to the queue and a later attempt can
 * succeed. Real nats-server, real sidecars as workers, the hooks stand-in as their gateway (a stand-in
 * reply source answers each turn after a set time).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { jobStatus, submitJob, waitForJob } from "../../src/features/jobs/client.js";
import { STREAMS, dlqStreamName, jobConsumerName } from "../../subjects/names.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { storedEnvelopes, stubReplies, until } from "../support/sidecar.js";

let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;

async function worker(identity: string, o: { durationMs: number; queue: string; concurrency?: number }) {
  const hooks = await m.extraGateway();
  const s = await m.sidecar(identity, {
    gatewayUrl: hooks.url,
    hooksToken: hooks.token,
    replies: stubReplies(hooks, o.durationMs),
    jobs: { queues: [o.queue], ...(o.concurrency ? { concurrency: o.concurrency } : {}) },
  });
  return { s, hooks };
}

/** The job turns a stand-in gateway received, by job id. */
const turnsOf = (hooks: HooksEndpoint, id: string) => hooks.postLog.filter((p) => p.body?.message?.includes(`[mesh job ${id}]`));

beforeAll(async () => {
  m = await startMesh();
  ({ broker, nc } = m);
});

afterAll(async () => {
  await m?.stop();
});

describe("jobs", () => {
  it("cancel while running: the submitter's `mesh job cancel` → the record says cancelled while running and that the turn was not stopped (the stand-in gateway gives no token for sessions.abort) by that worker, the job leaves JOBS (acked) and the idle second worker never gets it", async () => {
    const busy = await worker("cx-busy", { durationMs: 120_000, queue: "cancel-run" });
    const job = await submitJob(nc, { from: "clawd", task: "a very long job", queue: "cancel-run" });
    await until("running", async () => (await jobStatus(nc, job.id)).state === "running", 15_000);
    expect((await jobStatus(nc, job.id)).worker).toBe("cx-busy");
    const idle = await worker("cx-idle", { durationMs: 10, queue: "cancel-run" });
    const c = await mesh(["job", "cancel", job.id], { env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" } });
    expect(c.code, c.stderr).toBe(0);
    const done = await waitForJob(nc, job.id, 15_000);
    expect(done).toMatchObject({ state: "cancelled", worker: "cx-busy", attempts: 1 });
    expect(done.error).toBe("cancelled while running: the turn was not stopped: no gateway token: the sidecar cannot call the gateway's sessions.abort, so the turn runs to its end");
    const jsm = await jetstreamManager(nc);
    await until("the job left the JOBS stream", async () => (await jsm.streams.info(STREAMS.jobs, { subjects_filter: "jobs.cancel-run.>" })).state.messages === 0, 10_000);
    // Acked, not just dropped: nothing pending and nothing awaiting an ack, so nothing can be handed out again.
    const info = await jsm.consumers.info(STREAMS.jobs, jobConsumerName("cancel-run", "any"));
    expect({ pending: info.num_pending, ackPending: info.num_ack_pending }).toEqual({ pending: 0, ackPending: 0 });
    expect(turnsOf(busy.hooks, job.id)).toHaveLength(1);
    expect(turnsOf(idle.hooks, job.id)).toHaveLength(0);
  });

  it("jobConcurrency 2 with 4 jobs of 1.5 s: never more than 2 turns run at once, 2 do run at once, all 4 done on the one worker", async () => {
    const w = await worker("cc-two", { durationMs: 1500, queue: "conc", concurrency: 2 });
    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await submitJob(nc, { from: "clawd", task: `conc ${i}`, queue: "conc" })).id);
    const done = await Promise.all(ids.map((id) => waitForJob(nc, id, 30_000)));
    const makespan = Date.now() - t0;
    expect(done.map((d) => [d.state, d.worker])).toEqual(ids.map(() => ["done", "cc-two"]));
    // Each run: from the POST the stand-in gateway received to the record's finishedAt.
    const runs = done.map((d) => {
      const posts = turnsOf(w.hooks, d.id);
      expect(posts).toHaveLength(1);
      return { start: posts[0]!.at, end: Date.parse(d.finishedAt!) };
    });
    const overlapAt = (t: number) => runs.filter((r) => r.start <= t && t < r.end).length;
    const maxOverlap = Math.max(...runs.map((r) => overlapAt(r.start)));
    expect(maxOverlap).toBe(2);
    // Timing is for the benchmarks, not asserted here (a loaded 2-core machine): reported only.
    console.log(`4 jobs of 1.5 s at concurrency 2: makespan ${makespan} ms (2 rounds would be 3000 ms, serial 6000 ms)`);
  });

  it("retry then success: the first run is refused (HTTP 400), the job goes back to the queue, the second run completes: done, attempts 2, a job.failed (final false) then job.completed event, no dead letter", async () => {
    const { hooks } = await worker("rt-worker", { durationMs: 50, queue: "retry" });
    let first = true;
    hooks.respond = (h) => {
      if (h.body.message?.includes("(queue retry)") && first) {
        first = false;
        return { status: 400, body: { ok: false, error: "not now" } };
      }
      return undefined;
    };
    const job = await submitJob(nc, { from: "clawd", task: "try twice", queue: "retry", maxAttempts: 3 });
    const done = await waitForJob(nc, job.id, 30_000);
    expect(done).toMatchObject({ state: "done", worker: "rt-worker", attempts: 2 });
    expect(done.result).toMatch(/^result for \[mesh job /);
    expect(turnsOf(hooks, job.id).map((p) => p.status)).toEqual([400, 200]);
    const events = await until("both events stored", async () => {
      const e = (await storedEnvelopes(nc, STREAMS.events, "events.rt-worker.job.>")).filter((x) => (x.body as { jobId: string }).jobId === job.id);
      return e.some((x) => x.type === "job.completed") && e;
    });
    expect(events.map((e) => [e.type, (e.body as { attempt?: number; final?: boolean }).attempt ?? (e.body as { final?: boolean }).final ?? null])).toEqual([
      ["job.started", 1],
      ["job.failed", false],
      ["job.started", 2],
      ["job.completed", null],
    ]);
    expect((await storedEnvelopes(nc, dlqStreamName("rt-worker"), "dlq.rt-worker.jobs.*")).length).toBe(0);
  });
});
