/**
 * The A2A server's durable state on a secure mesh (a real nats-server set up by the real CLI):
 * clawd's tasks in its bucket KV_mesh-a2a-clawd, the answers to its asks in REPLIES-clawd, and
 * what another identity's credential (nova's) gets when it tries to write or read them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { Role, TaskState, type Task } from "@a2a-js/sdk";
import { ServerCallContext, type User } from "@a2a-js/sdk/server";
import { encodeEnvelope, newEnvelope } from "../../subjects/mod.js";
import { createLogger } from "../../src/base/log.js";
import { MeshVerifier } from "../../src/bus/verify.js";
import { startSealing } from "../../src/bus/sealing.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { A2ATaskBucket } from "../../src/features/a2a-server/task-store.js";
import { PeerProgress } from "../../src/features/a2a-server/progress.js";
import { askReplySubject } from "../../src/features/a2a-server/executor.js";
import { deniedPublish, startSecureMesh, violation, type SecureMesh } from "../support/secure-mesh.js";

let m: SecureMesh;
let clawd: NatsConnection;
let nova: NatsConnection;

beforeAll(async () => {
  m = await startSecureMesh(["nova", "clawd", "lyra"]);
  clawd = await m.as("clawd");
  nova = await m.as("nova");
}, 60_000);

afterAll(async () => {
  await m?.stop();
});

const as = (name: string) => new ServerCallContext({ user: { isAuthenticated: true, userName: name } as User });

function task(id: string, contextId: string, state: TaskState, at: string, answer?: string): Task {
  const part = (text: string) => ({ content: { $case: "text" as const, value: text }, metadata: undefined, filename: "", mediaType: "text/plain" });
  return {
    id,
    contextId,
    status: { state, message: undefined, timestamp: at },
    artifacts: answer ? [{ artifactId: `${id}-answer`, name: "answer", description: "", parts: [part(answer)], metadata: undefined, extensions: [] }] : [],
    history: [{ messageId: `m-${id}`, contextId, taskId: id, role: Role.ROLE_USER, parts: [part(`question ${id}`)], metadata: undefined, extensions: [], referenceTaskIds: [] }],
    metadata: { peer: "nova" },
  };
}

describe("A2A tasks on the bus", () => {
  it("a task saved through one store is loaded by a store opened later (a restart) with its answer; only on its peer's URL and only for its owner", async () => {
    const first = (await A2ATaskBucket.open(clawd, "clawd"))!.forPeer("nova");
    await first.save(task("t-0001", "ctx-a", TaskState.TASK_STATE_COMPLETED, "2026-12-02T10:00:00.000Z", "PONG"), as("laptop"));
    const later = (await A2ATaskBucket.open(clawd, "clawd"))!;
    const got = await later.forPeer("nova").load("t-0001", as("laptop"));
    expect([got?.status?.state, got?.artifacts[0]?.parts[0]?.content]).toEqual([TaskState.TASK_STATE_COMPLETED, { $case: "text", value: "PONG" }]);
    expect(await later.forPeer("lyra").load("t-0001", as("laptop"))).toBeUndefined();
    expect(await later.forPeer("nova").load("t-0001", as("gateway"))).toBeUndefined();
  });

  it("list filters by context and state, newest first, pages with nextPageToken, and leaves artifacts out unless asked", async () => {
    const store = (await A2ATaskBucket.open(clawd, "clawd"))!.forPeer("nova");
    const ctx = as("pager");
    for (let i = 0; i < 5; i++) await store.save(task(`p-000${i}`, i < 4 ? "ctx-p" : "ctx-q", i % 2 ? TaskState.TASK_STATE_WORKING : TaskState.TASK_STATE_COMPLETED, `2026-12-02T11:00:0${i}.000Z`, "a"), ctx);
    const req = { tenant: "", contextId: "ctx-p", status: TaskState.TASK_STATE_UNSPECIFIED, pageToken: "", statusTimestampAfter: undefined, pageSize: 3 };
    const one = await store.list(req, ctx);
    expect([one.tasks.map((t) => t.id), one.totalSize, one.tasks.every((t) => t.artifacts.length === 0)]).toEqual([["p-0003", "p-0002", "p-0001"], 4, true]);
    const two = await store.list({ ...req, pageToken: one.nextPageToken, includeArtifacts: true }, ctx);
    expect([two.tasks.map((t) => t.id), two.nextPageToken, two.tasks[0]?.artifacts.length]).toEqual([["p-0000"], "", 1]);
    const working = await store.list({ ...req, contextId: "", status: TaskState.TASK_STATE_WORKING, pageSize: 10 }, ctx);
    expect(working.tasks.map((t) => t.id)).toEqual(["p-0003", "p-0001"]);
  });

  it("a repeated messageId finds its first task after a restart (msg.<hash> in the same bucket)", async () => {
    await (await A2ATaskBucket.open(clawd, "clawd"))!.forPeer("nova").remember("laptop\u0000m-42", "t-0042");
    const later = (await A2ATaskBucket.open(clawd, "clawd"))!;
    expect([await later.forPeer("nova").find("laptop\u0000m-42"), await later.forPeer("lyra").find("laptop\u0000m-42")]).toEqual(["t-0042", undefined]);
  });

  it("attack: nova's write into clawd's A2A task bucket is refused by the server, and so is its read of a task there", async () => {
    const theirs = await new Kvm(nova).open("mesh-a2a-clawd", { allow_direct: true });
    const forged = JSON.stringify({ v: 1, peer: "nova", owner: "laptop", task: { id: "t-0001", status: { state: "TASK_STATE_COMPLETED" } } });
    expect(await violation(nova, () => theirs.put("task.t-0001", forged))).toMatch(deniedPublish("$KV.mesh-a2a-clawd.task.t-0001"));
    const jsm = await jetstreamManager(nova);
    expect(await violation(nova, () => jsm.direct.getMessage("KV_mesh-a2a-clawd", { last_by_subj: "$KV.mesh-a2a-clawd.task.t-0001" }))).toMatch(
      deniedPublish("$JS.API.DIRECT.GET.KV_mesh-a2a-clawd.$KV.mesh-a2a-clawd.task.t-0001"),
    );
    // clawd's task is as it was.
    const got = await (await A2ATaskBucket.open(clawd, "clawd"))!.forPeer("nova").load("t-0001", as("laptop"));
    expect(got?.artifacts[0]?.parts[0]?.content).toEqual({ $case: "text", value: "PONG" });
  });

  it("sealed: with clawd's sealing key, a saved task is stored sealed for clawd alone (the admin's bytes hold neither its question nor its answer, and the admin's store cannot open it); clawd's store opened later loads it whole, and a clear task saved before still loads; a sealed task's answer is cut at 128 KiB, with a note", async () => {
    // A connection of its own, with sealing started as the sidecar starts it.
    const sealing = await m.as("clawd");
    const log = createLogger({ name: "test", level: "silent" });
    expect(await startSealing(sealing, "clawd", join(mkdtempSync(join(tmpdir(), "mesh-a2a-keys-")), "xkeys.json"), await MeshVerifier.open(sealing, log), log)).toBeDefined();
    const store = (await A2ATaskBucket.open(sealing, "clawd"))!.forPeer("nova");
    await store.save(task("t-sealed", "ctx-s", TaskState.TASK_STATE_COMPLETED, "2026-12-02T11:00:00.000Z", "THE-SEALED-ANSWER"), as("laptop"));
    const raw = await (await new Kvm(m.admin).open("mesh-a2a-clawd")).get("task.t-sealed");
    const stored = JSON.parse(raw!.string()) as { v: number; peer: string; owner: string; sealed: { k: Record<string, unknown> } };
    expect([stored.v, stored.peer, stored.owner, Object.keys(stored.sealed.k)]).toEqual([2, "nova", "laptop", ["clawd"]]);
    expect(raw!.string()).not.toContain("THE-SEALED-ANSWER");
    expect(raw!.string()).not.toContain("question t-sealed");
    expect(await (await A2ATaskBucket.open(m.admin, "clawd"))!.forPeer("nova").load("t-sealed", as("laptop"))).toBeUndefined();
    const later = (await A2ATaskBucket.open(sealing, "clawd"))!.forPeer("nova");
    const got = await later.load("t-sealed", as("laptop"));
    expect([got?.history[0]?.parts[0]?.content, got?.artifacts[0]?.parts[0]?.content]).toEqual([
      { $case: "text", value: "question t-sealed" },
      { $case: "text", value: "THE-SEALED-ANSWER" },
    ]);
    expect((await later.load("t-0001", as("laptop")))?.artifacts[0]?.parts[0]?.content).toEqual({ $case: "text", value: "PONG" });
    // The longest answer a clear task keeps (192 KiB) is cut to 128 KiB when sealed, so the sealed task still fits an entry.
    await store.save(task("t-sealed-big", "ctx-s", TaskState.TASK_STATE_COMPLETED, "2026-12-02T11:01:00.000Z", "a".repeat(192 * 1024)), as("laptop"));
    const big = (await later.load("t-sealed-big", as("laptop")))?.artifacts[0]?.parts[0]?.content;
    expect(big?.$case === "text" ? big.value : "").toBe(`${"a".repeat(128 * 1024)}\n[answer cut to ${128 * 1024} bytes in the stored task]`);
    await sealing.close();
  });

  it("an answer published while nobody listened is kept in REPLIES-clawd and read back, signed by nova; a reply lyra signs for the same ask is not taken; nova cannot read clawd's replies", async () => {
    const id = "0b6f5c0e-aaaa-4bbb-8ccc-944445555001";
    const replyTo = askReplySubject("clawd", id);
    const lyra = await m.as("lyra");
    const forged = newEnvelope({ from: "lyra", to: "clawd", kind: "reply", type: "ok", body: "forged", correlationId: id });
    lyra.publish(replyTo, encodeEnvelope(m.signer("lyra").sign(forged)));
    await lyra.flush();
    const progress = new PeerProgress(clawd, "clawd", await MeshVerifier.open(clawd, createLogger({ name: "t", level: "silent" })), createLogger({ name: "t", level: "silent" }));
    expect(await progress.storedReply("nova", id, replyTo)).toBeUndefined();
    const reply = newEnvelope({ from: "nova", to: "clawd", kind: "reply", type: "ok", body: "the kept answer", correlationId: id });
    nova.publish(replyTo, encodeEnvelope(m.signer("nova").sign(reply)));
    await nova.flush();
    expect(await progress.storedReply("nova", id, replyTo)).toEqual({ kind: "answered", text: "the kept answer" });
    const jsm = await jetstreamManager(nova);
    expect(await violation(nova, () => jsm.direct.getMessage("REPLIES-clawd", { last_by_subj: replyTo }))).toMatch(deniedPublish(`$JS.API.DIRECT.GET.REPLIES-clawd.${replyTo}`));
  });
});
