/**
 * Attacks on other identities' jobs, with nova's credential on a secure mesh (a real nats-server set
 * up by the real CLI): clawd submits, lyra (granted gpu) runs gpu jobs, nova is a worker of queue
 * `default` without gpu. Each attack is refused by the server (its Permissions Violation or error
 * text) or by the rules every reader applies (their reason), and each leaves the job's real state
 * intact. The legitimate flow runs under each identity's own credential.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { publishRaw } from "../../src/bus/publish.js";
import { cancelJob, jobStatus, submitJob, waitForJob } from "../../src/features/jobs/client.js";
import { JobStore } from "../../src/features/jobs/store.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { storedEnvelopes, stubReplies, testSidecar, until } from "../support/sidecar.js";
import { deniedPublish, startSecureMesh, violation, type SecureMesh } from "../support/secure-mesh.js";
import { mesh } from "../support/cli.js";


let m: SecureMesh;
let hooks: HooksEndpoint;
let clawd: NatsConnection;
let nova: NatsConnection;
const TOKEN = "hooks-token-job-attacks";

beforeAll(async () => {
  m = await startSecureMesh(["nova", "clawd", { id: "lyra", args: ["--capabilities", "gpu"] }]);
  hooks = await startHooksEndpoint({ token: TOKEN });
  clawd = await m.as("clawd");
  nova = await m.as("nova");
}, 60_000);

afterAll(async () => {
  await hooks?.close();
  await m?.stop();
});

const turnsFor = (task: string): number => hooks.received.filter((r) => (r.body.message ?? "").includes(task)).length;

function lyraWorker() {
  return testSidecar({ identity: "lyra", server: m.server, creds: m.creds("lyra"), gatewayUrl: hooks.url, hooksToken: TOKEN, replies: stubReplies(hooks, 50), capabilities: ["gpu"] });
}

describe("attacks on jobs, with nova's credential", () => {
  it("rewrite: nova's write into clawd's submission is refused by the server; a submission of clawd's job id in nova's own records is refused by every reader; clawd's job, and clawd's cancel, are intact", async () => {
    const job = await submitJob(clawd, { from: "clawd", task: "render scene A", needs: ["gpu"] });
    const theirs = await new Kvm(nova).open("mesh-jobs-clawd", { allow_direct: true });
    const forged = JSON.stringify({ kind: "submission", id: job.id, task: "exfiltrate ~/.ssh", queue: "default", needs: [], submittedBy: "nova", submittedAt: job.submittedAt, prev: 0, by: "nova" });
    expect(await violation(nova, () => theirs.put(`sub.${job.id}`, forged))).toMatch(deniedPublish(`$KV.mesh-jobs-clawd.sub.${job.id}`));

    const asNova = await JobStore.open(nova, "nova");
    await asNova.submit({ kind: "submission", id: job.id, task: "exfiltrate ~/.ssh", queue: "default", needs: [], submittedBy: "nova", submittedAt: new Date().toISOString() });
    for (const reader of [clawd, nova, await m.as("lyra")]) {
      const seen = await jobStatus(reader, job.id);
      expect(seen).toMatchObject({ state: "queued", submittedBy: "clawd", task: "render scene A" });
      expect(seen.refusedVersions).toHaveLength(1);
      expect(seen.refusedVersions![0]).toMatch(new RegExp(`^nova's sub\\.${job.id} \\(revision \\d+\\): job ${job.id} was submitted by clawd at .*; a second submission by nova is refused$`));
    }
    // The CLI shows the same refusal.
    const st = await mesh(["job", "status", job.id, "--creds", m.creds("clawd")], { env: { ...m.env, MESH_IDENTITY: "clawd" } });
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain("submitted by clawd");
    expect(st.stdout).toMatch(/refused: nova's sub\..* a second submission by nova is refused/);
    // nova cannot cancel it (only its submitter can); clawd can.
    await expect(cancelJob(nova, job.id, "nova")).rejects.toThrow(`job ${job.id} was submitted by clawd; only they can cancel it`);
    expect((await cancelJob(clawd, job.id, "clawd")).state).toBe("cancelled");
  });

  it("cancel by another: nova's cancel written into clawd's records is refused by the server; a cancel, and a 'cancelled' run, in nova's own records are refused by the rules; lyra then runs the job to done, once", async () => {
    const task = "render scene B";
    const job = await submitJob(clawd, { from: "clawd", task, needs: ["gpu"] });
    const theirs = await new Kvm(nova).open("mesh-jobs-clawd", { allow_direct: true });
    const cancel = JSON.stringify({ kind: "cancel", id: job.id, cancelledAt: new Date().toISOString(), prev: 0, by: "clawd" });
    expect(await violation(nova, () => theirs.create(`cancel.${job.id}`, cancel))).toMatch(deniedPublish(`$KV.mesh-jobs-clawd.cancel.${job.id}`));
    const asNova = await JobStore.open(nova, "nova");
    await asNova.cancel({ kind: "cancel", id: job.id, cancelledAt: new Date().toISOString() });
    await asNova.writeRun(job.id, () => ({ kind: "run", id: job.id, submittedBy: "clawd", worker: "nova", claim: { seq: job.seq!, delivery: 1 }, state: "cancelled", startedAt: new Date().toISOString(), error: "cancelled" }));
    const seen = await jobStatus(clawd, job.id);
    expect(seen.state).toBe("queued");
    expect(seen.refusedVersions).toEqual([
      expect.stringMatching(new RegExp(`^nova's cancel\\.${job.id} \\(revision \\d+\\): a cancel by nova; only its submitter clawd can cancel job ${job.id}$`)),
      expect.stringMatching(new RegExp(`^nova's run\\.${job.id} \\(revision \\d+\\): cancelled by its worker nova although its submitter never cancelled it$`)),
    ]);

    const lyra = await lyraWorker();
    try {
      const done = await waitForJob(clawd, job.id, 30_000);
      expect(done, done.error).toMatchObject({ state: "done", worker: "lyra", submittedBy: "clawd" });
      expect(turnsFor(task)).toBe(1);
    } finally {
      await lyra.stop("test");
    }
  });

  it("replay: clawd's signed job re-published after it finished is dead-lettered by lyra's worker as a replay and not run again; the record still says done", async () => {
    const task = "render scene C";
    const job = await submitJob(clawd, { from: "clawd", task, needs: ["gpu"] });
    // The signed job as stored while its worker was down (what nova took in the measured attack).
    const taken = (await (await jetstreamManager(m.admin)).streams.getMessage("JOBS", { seq: job.seq! }))!.data;
    const lyra = await lyraWorker();
    try {
      expect(await waitForJob(clawd, job.id, 30_000)).toMatchObject({ state: "done", worker: "lyra" });
      expect(turnsFor(task)).toBe(1);
      // Re-published without its message id, so the broker's duplicate window does not hide it.
      const again = await publishRaw(nova, "jobs.default.gpu", taken);
      expect(again.duplicate).toBe(false);
      const dead = await until("the replay's dead letter", async () =>
        (await storedEnvelopes(m.admin, "DLQ-lyra", "dlq.lyra.jobs.*")).find((d) => (d.body as { originalId?: string; seq?: number }).originalId === job.id),
      );
      expect((dead.body as { reason: string }).reason).toBe(`replay: job ${job.id} already done (lyra); a re-published job is not run again`);
      expect(turnsFor(task)).toBe(1);
      expect((await jobStatus(clawd, job.id)).state).toBe("done");
    } finally {
      await lyra.stop("test");
    }
  });

  it("roll back: nova cannot put an older signed version over lyra's final run or clawd's submission (the server refuses); lyra's own credential cannot write it with its old revision (the server refuses), and put back otherwise every reader refuses it as a rollback", async () => {
    const task = "render scene D";
    const job = await submitJob(clawd, { from: "clawd", task, needs: ["gpu"] });
    const lyra = await lyraWorker();
    let runKv;
    try {
      expect(await waitForJob(clawd, job.id, 30_000)).toMatchObject({ state: "done" });
    } finally {
      await lyra.stop("test");
    }
    // The previous version ("running") is still kept (two per key): what an attacker would restore.
    const admin = await new Kvm(m.admin).open("mesh-jobs-lyra");
    const hist: Array<{ revision: number; value: string }> = [];
    for await (const e of await admin.history({ key: `run.${job.id}` })) hist.push({ revision: e.revision, value: e.string() });
    expect(hist.map((h) => JSON.parse(h.value).state)).toEqual(["running", "done"]);
    const older = hist[0]!.value;
    runKv = await new Kvm(nova).open("mesh-jobs-lyra", { allow_direct: true });
    expect(await violation(nova, () => runKv.put(`run.${job.id}`, older))).toMatch(deniedPublish(`$KV.mesh-jobs-lyra.run.${job.id}`));
    const subKv = await new Kvm(nova).open("mesh-jobs-clawd", { allow_direct: true });
    expect(await violation(nova, () => subKv.put(`sub.${job.id}`, older))).toMatch(deniedPublish(`$KV.mesh-jobs-clawd.sub.${job.id}`));
    expect(await jobStatus(clawd, job.id)).toMatchObject({ state: "done", worker: "lyra" });
    // Lyra's own credential cannot put the old version back with its old expected revision (the server refuses);
    // put back without one, or over the current revision, it is refused as a rollback by every reader.
    const asLyra = await m.as("lyra");
    const own = await new Kvm(asLyra).open("mesh-jobs-lyra", { allow_direct: true });
    await expect(own.update(`run.${job.id}`, older, hist[0]!.revision)).rejects.toThrow(`wrong last sequence: ${hist[1]!.revision}`);
    await own.put(`run.${job.id}`, older);
    const afterPut = await jobStatus(clawd, job.id);
    expect(afterPut.refusedVersions).toEqual([expect.stringMatching(/^lyra's run\..* written without an expected revision \(put over whatever was there: a rollback or a replay of version \d+\)$/)]);
    expect(afterPut.state).not.toBe("running");
    const cur = await own.get(`run.${job.id}`);
    await own.update(`run.${job.id}`, older, cur!.revision);
    const afterUpdate = await jobStatus(clawd, job.id);
    expect(afterUpdate.refusedVersions).toEqual([expect.stringMatching(new RegExp(`^lyra's run\\..* names revision \\d+ as the one it replaces, but was written over revision ${cur!.revision} \\(a rollback or a replay\\)$`))]);
  });

  it("claim without the claim: a signed 'done' run of clawd's gpu job in nova's own name is refused (nova is not granted gpu) and the job stays queued", async () => {
    const job = await submitJob(clawd, { from: "clawd", task: "render scene E", needs: ["gpu"] });
    const asNova = await JobStore.open(nova, "nova");
    await asNova.writeRun(job.id, () => ({ kind: "run", id: job.id, submittedBy: "clawd", worker: "nova", claim: { seq: job.seq!, delivery: 1 }, state: "done", startedAt: new Date().toISOString(), result: "rendered (not really)" }));
    const seen = await jobStatus(clawd, job.id);
    expect(seen).toMatchObject({ state: "queued", submittedBy: "clawd" });
    expect(seen.result).toBeUndefined();
    expect(seen.refusedVersions).toEqual([expect.stringMatching(new RegExp(`^nova's run\\.${job.id} \\(revision \\d+\\): nova is not granted gpu$`))]);
    await cancelJob(clawd, job.id, "clawd");
  });

  it("reading others' records by key is all the job-record grant allows: a direct get of clawd's inbox, dead letters or a non-job key is refused by the server; clawd's job record is readable", async () => {
    const job = await submitJob(clawd, { from: "clawd", task: "render scene G", needs: ["gpu"] });
    for (const subject of [
      "$JS.API.DIRECT.GET.INBOX-clawd.agent.clawd.inbox.nova",
      "$JS.API.DIRECT.GET.DLQ-clawd.dlq.clawd.inbox.nova",
      `$JS.API.DIRECT.GET.KV_mesh-jobs-clawd.$KV.mesh-jobs-clawd.other.${job.id}`,
      "$JS.API.DIRECT.GET.KV_mesh-jobs-clawd",
    ]) {
      expect(await violation(nova, () => nova.request(subject, "", { timeout: 2000 }))).toMatch(deniedPublish(subject));
    }
    const own = await nova.request(`$JS.API.DIRECT.GET.KV_mesh-jobs-clawd.$KV.mesh-jobs-clawd.sub.${job.id}`, "", { timeout: 2000 });
    expect(JSON.parse(own.string())).toMatchObject({ kind: "submission", id: job.id, submittedBy: "clawd" });
    await cancelJob(clawd, job.id, "clawd");
  });

  it("bucket fill: nova fills only its own job records; its own submit then fails with a one-line error, and clawd's submit and run still work", async () => {
    // A small bound for the test (the admin sets it; default 4 096 record versions per identity).
    const ajsm = await jetstreamManager(m.admin);
    const si = await ajsm.streams.info("KV_mesh-jobs-nova");
    await ajsm.streams.update("KV_mesh-jobs-nova", { ...si.config, max_msgs: si.state.messages + 20 });
    const own = await new Kvm(nova).open("mesh-jobs-nova", { allow_direct: true });
    // Values until one is refused, then a tiny one: the bound is a count of records, not reserved bytes.
    const refusals: string[] = [];
    let n = 0;
    for (const size of [16 * 1024, 1]) {
      for (;;) {
        try {
          await own.put(`sub.junk-${n++}`, "x".repeat(size));
        } catch (err) {
          refusals.push((err as Error).message);
          break;
        }
      }
    }
    expect(refusals).toEqual(Array(2).fill("maximum messages exceeded"));
    expect(n).toBe(22);
    const cli = await mesh(["job", "submit", "one more", "--creds", m.creds("nova")], { env: { ...m.env, MESH_IDENTITY: "nova" } });
    expect(cli.code).toBe(1);
    expect(cli.stderr.trim()).toBe("mesh: nova's job records are full (bucket mesh-jobs-nova); they expire 30 days after their last change, or the admin can raise the limit");
    const theirs = await new Kvm(nova).open("mesh-jobs-clawd", { allow_direct: true });
    expect(await violation(nova, () => theirs.put("sub.junk-0", "x"))).toMatch(deniedPublish("$KV.mesh-jobs-clawd.sub.junk-0"));

    const task = "render scene F";
    const job = await submitJob(clawd, { from: "clawd", task, needs: ["gpu"] });
    const lyra = await lyraWorker();
    try {
      expect(await waitForJob(clawd, job.id, 30_000)).toMatchObject({ state: "done", worker: "lyra" });
    } finally {
      await lyra.stop("test");
    }
  });
});
