import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { cancelJob, jobStatus, listJobs, submitJob, waitForJob } from "../../src/features/jobs/client.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { storedEnvelopes, stubReplies, until } from "../support/sidecar.js";

let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;

async function worker(identity: string, o: { durationMs: number; capabilities?: string[]; queues?: string[]; ackWaitMs?: number }) {
  const hooks = await m.extraGateway();
  const s = await m.sidecar(identity, {
    gatewayUrl: hooks.url,
    hooksToken: hooks.token,
    replies: stubReplies(hooks, o.durationMs),
    capabilities: o.capabilities ?? [],
    jobs: { queues: o.queues ?? ["default"], ...(o.ackWaitMs ? { ackWaitMs: o.ackWaitMs } : {}) },
  });
  return { s, hooks };
}

const jobPosts = (hooks: HooksEndpoint, queue: string) => hooks.received.filter((h) => h.body.message?.includes(`(queue ${queue})`));

beforeAll(async () => {
  m = await startMesh();
  ({ broker, nc } = m);
});

afterAll(async () => {
  await m?.stop();
});

describe("jobs", () => {
  it("3 workers × 30 equal jobs: each runs exactly once, none lost, every worker takes some, and no worker's job runs overlap (concurrency 1)", async () => {
    const DURATION = 300;
    const ws = await Promise.all(["w1", "w2", "w3"].map((id) => worker(id, { durationMs: DURATION, queues: ["bulk"] })));
    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await submitJob(nc, { from: "clawd", task: `task ${i}`, queue: "bulk" })).id);
    const done = await Promise.all(ids.map((id) => waitForJob(nc, id, 60_000)));
    const makespan = Date.now() - t0;
    expect(done.map((d) => d.state)).toEqual(Array(30).fill("done"));
    expect(done.every((d, i) => d.result === `result for [mesh job ${ids[i]}]`)).toBe(true);
    // Exactly once: one POST per job across all workers.
    const posts = ws.flatMap(({ hooks }) => jobPosts(hooks, "bulk").map((h) => /\[mesh job ([0-9a-f-]+)\]/.exec(h.body.message!)![1]));
    expect(posts.sort()).toEqual([...ids].sort());
    const perWorker = Object.fromEntries(ws.map(({ s, hooks }) => [s.self, jobPosts(hooks, "bulk").length]));
    const ideal = (30 / 3) * DURATION;
    console.log(`jobs per worker ${JSON.stringify(perWorker)}; makespan ${makespan} ms vs ideal ${ideal} ms (${(makespan / ideal).toFixed(2)}×)`);
    for (const n of Object.values(perWorker)) expect(n).toBeGreaterThan(0);
    for (const { s } of ws) expect(s.jobs!.stats.started).toBe(perWorker[s.self]);
    const recs = (await listJobs(nc)).filter((j) => ids.includes(j.id));
    expect(recs).toHaveLength(30);
    expect(new Set(recs.map((r) => r.worker))).toEqual(new Set(["w1", "w2", "w3"]));
    // A busy worker never runs two at once (concurrency 1). Each job's run, per its record, is
    // [startedAt, finishedAt]; the stand-in saw its POST inside that span, on the worker the record
    // names, and the reply (DURATION after the POST) before it ended. No two spans of one worker overlap.
    const spans = recs.map((r) => {
      const owner = ws.find(({ s }) => s.self === r.worker)!;
      const post = jobPosts(owner.hooks, "bulk").find((h) => h.body.message!.includes(`[mesh job ${r.id}]`));
      expect(post, `job ${r.id}: no POST at ${r.worker}'s gateway`).toBeDefined();
      const span = { id: r.id, worker: r.worker!, start: Date.parse(r.startedAt!), end: Date.parse(r.finishedAt!), postAt: post!.at };
      expect(span.start, `job ${r.id} startedAt`).toBeLessThanOrEqual(span.postAt);
      expect(span.end - span.postAt, `job ${r.id}: finished before its reply could arrive`).toBeGreaterThanOrEqual(DURATION - 5);
      return span;
    });
    const overlaps: string[] = [];
    for (const w of ["w1", "w2", "w3"]) {
      const mine = spans.filter((x) => x.worker === w).sort((a, b) => a.start - b.start);
      // Sorted by start: a span overlaps an earlier one iff it starts before the latest end so far.
      let latest = mine[0];
      for (const x of mine.slice(1)) {
        if (x.start < latest!.end) overlaps.push(`${w}: ${latest!.id} until ${latest!.end}, ${x.id} from ${x.start}`);
        if (x.end > latest!.end) latest = x;
      }
    }
    expect(overlaps).toEqual([]);
    const started = await storedEnvelopes(nc, "EVENTS", "events.*.job.started");
    expect(started.filter((e) => ids.includes((e.body as { jobId: string }).jobId))).toHaveLength(30);
  });

  it("a worker whose own job records are full cannot record its run: it keeps running, the job goes back to the queue (not run, not lost), and once there is room it runs to done, once", async () => {
    const { s, hooks } = await worker("w9", { durationMs: 10, queues: ["full"] });
    const jsm = await jetstreamManager(nc);
    const bucket = await new Kvm(nc).open("mesh-jobs-w9");
    await bucket.put("sub.junk", "x");
    const si = await jsm.streams.info("KV_mesh-jobs-w9");
    await jsm.streams.update("KV_mesh-jobs-w9", { ...si.config, max_msgs: si.state.messages });
    const job = await submitJob(nc, { from: "clawd", task: "needs a record", queue: "full", maxAttempts: 10 });
    // Taken twice: the first run could not be recorded, the job came back, and the worker is still pulling.
    await until("w9's second try", () => s.jobs!.stats.started >= 2, 30_000);
    expect(jobPosts(hooks, "full")).toHaveLength(0);
    expect((await jobStatus(nc, job.id)).state).toBe("queued");
    await jsm.streams.update("KV_mesh-jobs-w9", { ...si.config, max_msgs: -1 });
    const done = await waitForJob(nc, job.id, 30_000);
    expect([done.state, done.worker]).toEqual(["done", "w9"]);
    expect(jobPosts(hooks, "full")).toHaveLength(1);
  });

  it("a worker that dies mid-job: the job goes to another worker after the ack deadline", async () => {
    const a = await worker("crashy", { durationMs: 60_000, queues: ["crash"], ackWaitMs: 2000 });
    const job = await submitJob(nc, { from: "clawd", task: "long one", queue: "crash" });
    await until("crashy took it", async () => (await jobStatus(nc, job.id)).state === "running");
    // Die without acking: the connection goes away as with kill -9.
    await a.s.nc.close();
    const b = await worker("steady", { durationMs: 100, queues: ["crash"], ackWaitMs: 2000 });
    const done = await waitForJob(nc, job.id, 30_000);
    expect(done).toMatchObject({ state: "done", worker: "steady", attempts: 2 });
    expect(jobPosts(b.hooks, "crash")).toHaveLength(1);
  });

  it("a job needing a capability nobody has stays queued, and status says why; a capable worker takes it", async () => {
    await worker("plain", { durationMs: 50, queues: ["caps"] });
    const job = await submitJob(nc, { from: "clawd", task: "render", queue: "caps", needs: ["gpu"] });
    await new Promise((r) => setTimeout(r, 2500));
    const st = await jobStatus(nc, job.id);
    expect(st.state).toBe("queued");
    expect(st.why).toBe("no online worker has gpu");
    const cli = await mesh(["job", "status", job.id], { env: { MESH_SERVER: broker.url } });
    expect(cli.stdout).toContain("no online worker has gpu");
    await worker("gpu-box", { durationMs: 50, queues: ["caps"], capabilities: ["gpu", "build"] });
    expect(await waitForJob(nc, job.id, 20_000)).toMatchObject({ state: "done", worker: "gpu-box" });
  });

  it("a job that fails N times is dead-lettered with the reason", async () => {
    const { hooks } = await worker("picky", { durationMs: 10, queues: ["fails"] });
    hooks.respond = () => ({ status: 400, body: { ok: false, error: "bad agent" } });
    const job = await submitJob(nc, { from: "clawd", task: "doomed", queue: "fails", maxAttempts: 2 });
    const done = await waitForJob(nc, job.id, 30_000);
    expect(done).toMatchObject({ state: "failed", attempts: 2, error: "HTTP 400 bad agent" });
    const dead = await until("job dead letter", async () => (await storedEnvelopes(nc, "DLQ-picky", "dlq.picky.jobs.*")).find((d) => (d.body as { originalId?: string }).originalId === job.id));
    expect((dead.body as { reason: string }).reason).toBe("HTTP 400 bad agent");
  });

  it("cancel removes a queued job; --wait prints the result", async () => {
    const queued = await submitJob(nc, { from: "clawd", task: "nobody serves this", queue: "idle" });
    const c = await mesh(["job", "cancel", queued.id], { env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" } });
    expect(c.stdout.trim()).toBe(`cancelled ${queued.id}`);
    expect((await jobStatus(nc, queued.id)).state).toBe("cancelled");
    await expect(cancelJob(nc, queued.id, "clawd")).rejects.toThrow(/already cancelled/);

    await worker("waiter", { durationMs: 50, queues: ["cli"] });
    const r = await mesh(["job", "submit", "print the answer", "--queue", "cli", "--wait", "--timeout", "30s"], { env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^result for \[mesh job [0-9a-f-]{36}\]$/);
    const l = await mesh(["job", "list", "--state", "cancelled"], { env: { MESH_SERVER: broker.url } });
    expect(l.stdout).toContain(queued.id);
  });
});
