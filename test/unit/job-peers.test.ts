import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isIdentity, jobConversation, jobPeerName, parseJobPeer, a2aSessionKey } from "../../subjects/mod.js";
import { jobPeersOf } from "../../src/features/conversations/peer-sync.js";
import type { NatsConnection } from "@nats-io/nats-core";
import { A2APeerTable } from "../../src/agent/openclaw-a2a/peers.js";
import { MeshExecutor, type EndpointJobs } from "../../src/features/a2a-server/executor.js";
import { peerCard } from "../../src/features/a2a-server/card.js";
import type { PeerProgress } from "../../src/features/a2a-server/progress.js";
import type { Conversations } from "../../src/features/conversations/conversations.js";
import { jobText } from "../../src/agent/openclaw-a2a/adapter.js";
import { resultText } from "../../src/features/jobs/native.js";

/** Job peers (a2a:jobs.<queue>[.<caps>]) and the names a job's turn uses, without a gateway or a broker. */
describe("job peers and job turn names", () => {
  it("jobPeerName spells queue and sorted capabilities with a dot and underscores; parseJobPeer reads exactly that spelling back", () => {
    expect(jobPeerName("default")).toBe("jobs.default");
    expect(jobPeerName("default", ["gpu"])).toBe("jobs.default.gpu");
    expect(jobPeerName("default", ["gpu", "build", "gpu"])).toBe("jobs.default.build_gpu");
    expect(parseJobPeer("jobs.default")).toEqual({ queue: "default", needs: [] });
    expect(parseJobPeer("jobs.default.build_gpu")).toEqual({ queue: "default", needs: ["build", "gpu"] });
    // Another spelling of the same set, a bad token, an identity: not job peers.
    for (const bad of ["jobs.default.gpu_build", "jobs.default.gpu_gpu", "jobs.Default", "jobs.default.", "jobs.a.b.c", "jobs-default", "nova", "jobs."]) {
      expect([bad, parseJobPeer(bad)]).toEqual([bad, undefined]);
    }
  });

  it("no job peer name is a valid identity (identities have no dot), so the two can never collide", () => {
    for (const name of [jobPeerName("default"), jobPeerName("default", ["gpu"]), jobPeerName("q-1", ["a", "b"])]) expect([name, isIdentity(name)]).toEqual([name, false]);
  });

  it("a name past OpenClaw's 64-character peer limit is not made", () => {
    expect(jobPeerName("default", ["a".repeat(30), "b".repeat(30)])).toBeUndefined();
  });

  it("jobPeersOf: per served queue, any worker, each capability alone and all together; none for a worker without queues", () => {
    const p = { identity: "nova", host: "h", version: "1", capabilities: ["gpu", "build"], gateway: "up" as const, startedAt: "", lastSeen: "", status: "online" as const };
    expect(jobPeersOf({ ...p, queues: ["default"] })).toEqual(["jobs.default", "jobs.default.build", "jobs.default.gpu", "jobs.default.build_gpu"]);
    expect(jobPeersOf({ ...p, capabilities: [], queues: ["default", "nightly"] })).toEqual(["jobs.default", "jobs.nightly"]);
    expect(jobPeersOf(p)).toEqual([]);
  });

  it("a job's turn: its own conversation job-<id>, the A2A session it runs in, and a text naming the job, its submitter, queue and attempt before the task", () => {
    const id = "0b6f5c0e-1111-4222-8333-944445555666";
    expect(jobConversation(id)).toBe(`job-${id}`);
    expect(a2aSessionKey("clawd", jobConversation(id))).toBe(`agent:main:a2a:default:direct:clawd:job-${id}`);
    expect(jobText({ id, from: "clawd", queue: "default", task: "run the tests", attempt: 2 })).toBe(
      `[mesh job ${id} from clawd, queue default, attempt 2; your final reply is the job's result]\n\nrun the tests`,
    );
  });

  it("resultText: done carries the result after a line naming the job and its worker; failed carries the reason and attempts", () => {
    const base = { id: "j1", task: "t", queue: "default", needs: [], submittedBy: "clawd", submittedAt: "", worker: "nova", attempts: 3 };
    expect(resultText({ ...base, state: "done", result: "42" })).toBe("[mesh job j1 done on nova]\n\n42");
    expect(resultText({ ...base, state: "failed", error: "gave up" })).toBe("[mesh job j1 failed on nova after 3 attempts: gave up]");
  });

  it("a job peer gets its own URL on the sidecar in the gateway's channels.a2a.peers, like an identity", () => {
    const dir = mkdtempSync(join(tmpdir(), "mesh-jobpeer-unit-"));
    const configFile = join(dir, "openclaw.json");
    writeFileSync(configFile, JSON.stringify({ channels: { a2a: { enabled: true } } }));
    const table = new A2APeerTable(join(dir, "state"), configFile, "http://127.0.0.1:9469");
    table.sync(["nova", "jobs.default.gpu"]);
    const peers = JSON.parse(readFileSync(configFile, "utf8")).channels.a2a.peers;
    expect(peers["jobs.default.gpu"].url).toBe("http://127.0.0.1:9469/a2a/peers/jobs.default.gpu/v1");
  });

  it("a SendMessage on a job peer's URL is submitted as a job (SUBMITTED, naming the job) and its result completes the task (GetTask: the artifact)", async () => {
    const { DefaultRequestHandler, InMemoryTaskStore, ServerCallContext } = await import("@a2a-js/sdk/server");
    const { Role, TaskState } = await import("@a2a-js/sdk");
    const submitted: Array<{ peer: string; text: string; context: string }> = [];
    const tasks = new Map<string, { peer: string; context: string; answer?: string }>();
    const jobs: EndpointJobs = {
      submit: async (peer, text, context) => {
        submitted.push({ peer, text, context });
        tasks.set("job-1", { peer, context });
        return { id: "job-1", context };
      },
      task: (id) => tasks.get(id),
    };
    const executor = new MeshExecutor({ nc: {} as NatsConnection, self: "clawd", peer: "jobs.default.gpu", progress: {} as PeerProgress, conversations: {} as Conversations, jobs, jobPollMs: 20 });
    const handler = new DefaultRequestHandler(peerCard({ self: "clawd", base: "http://127.0.0.1:9469", peer: "jobs.default.gpu", version: "test" }), new InMemoryTaskStore(), executor);
    const ctx = new ServerCallContext();
    const message = { messageId: "m1", contextId: "ctx-oc-jobs.default.gpu", taskId: "", role: Role.ROLE_USER, parts: [{ content: { $case: "text" as const, value: "render" }, metadata: undefined, filename: "", mediaType: "" }], metadata: undefined, extensions: [], referenceTaskIds: [] };
    const r = (await handler.sendMessage({ tenant: "", message, configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately: true }, metadata: undefined }, ctx)) as import("@a2a-js/sdk").Task;
    expect([r.contextId, r.status?.state, r.metadata?.job]).toEqual(["ctx-oc-jobs.default.gpu", TaskState.TASK_STATE_SUBMITTED, "job-1"]);
    expect(submitted).toEqual([{ peer: "jobs.default.gpu", text: "render", context: "ctx-oc-jobs.default.gpu" }]);
    tasks.get("job-1")!.answer = "[mesh job job-1 done on nova]\n\nrendered";
    const deadline = Date.now() + 5000;
    let t = await handler.getTask({ tenant: "", id: r.id }, ctx);
    while (t.status?.state !== TaskState.TASK_STATE_COMPLETED && Date.now() < deadline) {
      await new Promise((x) => setTimeout(x, 20));
      t = await handler.getTask({ tenant: "", id: r.id }, ctx);
    }
    expect(t.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(t.artifacts.map((a) => a.parts.map((p) => (p.content?.$case === "text" ? p.content.value : "")).join(""))).toEqual(["[mesh job job-1 done on nova]\n\nrendered"]);
  });
});
