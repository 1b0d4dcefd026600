import { describe, expect, it } from "vitest";
import { jobOutcome as outcome, type JobCancel, type JobGrants, type JobRun, type JobSubmission, type RuleContext, type StoredVersion } from "../../subjects/mod.js";

const T0 = new Date("2026-12-01T10:00:00.000Z");
const at = (s: number): Date => new Date(T0.getTime() + s * 1000);

const sub = (over: Partial<JobSubmission> = {}, owner = "clawd", created = at(0)): StoredVersion<JobSubmission> => ({
  owner,
  revision: 2,
  created,
  value: { kind: "submission", id: "job-1", task: "run the tests", queue: "default", needs: ["gpu"], submittedBy: "clawd", submittedAt: T0.toISOString(), prev: 0, by: owner, ...over },
});
const cancel = (owner = "clawd"): StoredVersion<JobCancel> => ({ owner, revision: 4, created: at(2), value: { kind: "cancel", id: "job-1", cancelledAt: at(2).toISOString(), prev: 0, by: owner } });
/** The rules over submissions, runs and (optionally) cancels. */
const jobOutcome = (subs: StoredVersion<JobSubmission>[], runs: StoredVersion<JobRun>[], ctx: RuleContext, cancels: StoredVersion<JobCancel>[] = []) => outcome({ subs, runs, cancels }, ctx);
const run = (owner: string, over: Partial<JobRun> = {}, created = at(1)): StoredVersion<JobRun> => ({
  owner,
  revision: 3,
  created,
  value: { kind: "run", id: "job-1", submittedBy: "clawd", worker: owner, claim: { seq: 7, delivery: 1 }, state: "running", startedAt: at(1).toISOString(), prev: 0, by: owner, ...over },
});

const grants: Record<string, JobGrants> = { nova: { queues: ["default"], capabilities: [] }, lyra: { queues: ["default"], capabilities: ["gpu"] }, zed: { queues: ["default"], capabilities: ["gpu"] } };
const secure: RuleContext = { secure: true, grantsOf: (id) => grants[id] };

describe("job rules: who may move a job's record", () => {
  it("a submission alone is queued; with its cancel, cancelled before it ran", () => {
    expect(jobOutcome([sub()], [], secure).record).toMatchObject({ state: "queued", submittedBy: "clawd", task: "run the tests", attempts: 0 });
    expect(jobOutcome([sub()], [], secure, [cancel()]).record).toMatchObject({ state: "cancelled", error: "cancelled before it ran" });
  });

  it("the granted worker's run moves it: running, then done with its result", () => {
    expect(jobOutcome([sub()], [run("lyra")], secure).record).toMatchObject({ state: "running", worker: "lyra", attempts: 1 });
    const o = jobOutcome([sub()], [run("lyra", { state: "done", result: "42 passed" })], secure);
    expect(o.record).toMatchObject({ state: "done", worker: "lyra", result: "42 passed" });
    expect(o.refused).toEqual([]);
  });

  it("a run by a worker without the job's capability is refused and the job stays queued", () => {
    const o = jobOutcome([sub()], [run("nova", { state: "done", result: "pwned" })], secure);
    expect(o.record?.state).toBe("queued");
    expect(o.refused).toEqual([{ writer: "nova", key: "run.job-1", revision: 3, reason: "nova is not granted gpu" }]);
  });

  it("a second submission of the same id by another identity is refused; the first submitter's stands", () => {
    const o = jobOutcome([sub(), sub({ submittedBy: "nova", task: "rm -rf ~" }, "nova", at(5))], [], secure);
    expect(o.record).toMatchObject({ submittedBy: "clawd", task: "run the tests" });
    expect(o.refused.map((r) => r.reason)).toEqual([`job job-1 was submitted by clawd at ${T0.toISOString()}; a second submission by nova is refused`]);
  });

  it("a version whose writer differs from its bucket's owner is refused", () => {
    const o = jobOutcome([sub({ by: "clawd", submittedBy: "clawd" }, "nova")], [], secure);
    expect(o.record).toBeUndefined();
    expect(o.refused[0]?.reason).toBe("a submission in nova's records claiming to be written by clawd for clawd");
  });

  it("a cancel by anyone but the submitter is refused; with the submitter's, a running job is asked to stop and its worker's cancel stands", () => {
    const o = jobOutcome([sub()], [], secure, [cancel("nova")]);
    expect(o.record?.state).toBe("queued");
    expect(o.refused[0]?.reason).toBe("a cancel by nova; only its submitter clawd can cancel job job-1");
    expect(jobOutcome([sub()], [run("lyra")], secure, [cancel()]).record).toMatchObject({ state: "running", cancelRequested: true });
    expect(jobOutcome([sub()], [run("lyra", { state: "cancelled", error: "cancelled while running" })], secure, [cancel()]).record).toMatchObject({ state: "cancelled", worker: "lyra" });
  });

  it("a worker's cancel without its submitter's cancel is refused", () => {
    const o = jobOutcome([sub()], [run("lyra", { state: "cancelled" })], secure);
    expect(o.record?.state).toBe("queued");
    expect(o.refused[0]?.reason).toBe("cancelled by its worker lyra although its submitter never cancelled it");
  });

  it("after a run ended, a later run (a replayed job message) is refused: the outcome stands", () => {
    const done = run("lyra", { state: "failed", error: "tests failed" });
    const replay = run("zed", { claim: { seq: 9, delivery: 1 }, state: "done", result: "all good" }, at(30));
    const o = jobOutcome([sub()], [done, replay], secure);
    expect(o.record).toMatchObject({ state: "failed", worker: "lyra", error: "tests failed" });
    expect(o.refused[0]?.reason).toBe("job job-1 already failed (lyra, delivery 1); a later run by zed is a replay");
  });

  it("a later delivery of the same message supersedes an earlier claim; two claims of one delivery: the first written holds it", () => {
    const first = run("lyra", { state: "retrying", error: "gateway down" });
    const second = run("zed", { claim: { seq: 7, delivery: 2 }, state: "done", result: "ok" }, at(40));
    expect(jobOutcome([sub()], [first, second], secure).record).toMatchObject({ state: "done", worker: "zed", attempts: 2 });
    const contested = run("zed", { state: "done", result: "mine" }, at(2));
    const o = jobOutcome([sub()], [run("lyra"), contested], secure);
    expect(o.record).toMatchObject({ state: "running", worker: "lyra" });
    expect(o.refused[0]?.reason).toBe("delivery 1 of message 7 is already claimed by lyra");
  });

  it("a version refused by its signature or revision check never counts", () => {
    const o = jobOutcome([sub()], [{ ...run("lyra", { state: "done", result: "x" }), refused: "signature does not match lyra's key (forged record?)" }], secure);
    expect(o.record?.state).toBe("queued");
    expect(o.refused[0]?.reason).toBe("signature does not match lyra's key (forged record?)");
  });

  it("an open mesh checks no grants", () => {
    const open: RuleContext = { secure: false, grantsOf: () => undefined };
    expect(jobOutcome([sub()], [run("nova", { state: "done", result: "ok" })], open).record?.state).toBe("done");
  });
});
