/**
 * Sealed jobs on a secure mesh (a real nats-server set up by the real CLI): a job's task is sealed
 * for its submitter and the workers granted its queue and needs, its result for the submitter and
 * the worker that ran it. What the broker stores (read with the admin credential) holds neither;
 * the worker's gateway gets the task, the submitter reads the result, another identity reads
 * "[sealed for …]", and a granted worker the task was not sealed for cannot run it.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { createLogger } from "../../src/base/log.js";
import { startSealing } from "../../src/bus/sealing.js";
import { MeshVerifier } from "../../src/bus/verify.js";
import { jobStatus, submitJob, waitForJob } from "../../src/features/jobs/client.js";
import { parseEnvelope } from "../../subjects/mod.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { startSecureMesh, type SecureMesh, storedBytes } from "../support/secure-mesh.js";
import { storedEnvelopes, stubReplies, testSidecar, until } from "../support/sidecar.js";

let m: SecureMesh;
let hooks: HooksEndpoint;
let clawd: NatsConnection;
const TOKEN = "hooks-token-sealed-jobs";
const log = createLogger({ name: "test", level: "silent" });

/** A connection as `id` that seals as its sidecar does (its own keyring, its key published). */
async function sealing(id: string): Promise<NatsConnection> {
  const nc = await m.as(id);
  const started = await startSealing(nc, id, join(mkdtempSync(join(tmpdir(), `mesh-keys-${id}-`)), "xkeys.json"), await MeshVerifier.open(nc, log), log);
  if (!started) throw new Error(`sealing did not start for ${id}`);
  return nc;
}

const worker = (id: string, capabilities: string[] = []) =>
  testSidecar({ identity: id, server: m.server, creds: m.creds(id), gatewayUrl: hooks.url, hooksToken: TOKEN, replies: stubReplies(hooks, 20), capabilities });

beforeAll(async () => {
  m = await startSecureMesh(["nova", "clawd", { id: "lyra", args: ["--capabilities", "gpu"] }, "orion", "vega"]);
  hooks = await startHooksEndpoint({ token: TOKEN });
  clawd = await sealing("clawd");
}, 60_000);

afterAll(async () => {
  await hooks?.close();
  await m?.stop();
});

describe("sealed jobs (secure mesh, real nats-server)", () => {
  it("a gpu job clawd submits is sealed for clawd and lyra: what is published on jobs.> and the job records hold neither its task nor lyra's result (admin credential); lyra's gateway gets the task, clawd reads the result, nova reads [sealed for clawd, lyra]", async () => {
    const lyra = await worker("lyra", ["gpu"]);
    try {
      const task = "SEALED-JOB-TASK render the secret scene";
      // What is published on jobs.> as the broker receives it (JOBS is a work queue: it is gone once run).
      const wire: string[] = [];
      const tap = m.admin.subscribe("jobs.>", { callback: (_e, msg) => void wire.push(new TextDecoder().decode(msg.data)) });
      await m.admin.flush();
      const job = await submitJob(clawd, { from: "clawd", task, needs: ["gpu"] });
      expect(job.note).toBeUndefined();
      const done = await waitForJob(clawd, job.id, 30_000);
      expect([done.state, done.worker, done.task]).toEqual(["done", "lyra", task]);
      expect(done.result).toMatch(/^result for /);
      // The gateway that ran it got the task.
      expect(hooks.received.some((h) => (h.body.message ?? "").includes(task))).toBe(true);
      tap.unsubscribe();
      const offered = wire.map((t) => parseEnvelope(t)).find((e) => e.id === job.id);
      expect(offered?.body).toMatchObject({ task: "", sealedTask: { v: 1 } });
      expect(Object.keys((offered?.body as { sealedTask: { k: object } }).sealedTask.k).sort()).toEqual(["clawd", "lyra"]);
      const stored = [wire.join("\n"), await storedBytes(m.admin, "KV_mesh-jobs-clawd"), await storedBytes(m.admin, "KV_mesh-jobs-lyra")].join("\n");
      expect(stored).toContain(job.id);
      expect(stored).not.toContain("SEALED-JOB-TASK");
      expect(stored).not.toContain("result for ");
      const seenByNova = await jobStatus(await m.as("nova"), job.id);
      expect([seenByNova.state, seenByNova.task, seenByNova.result]).toEqual(["done", "[sealed for clawd, lyra]", "[sealed for clawd, lyra]"]);
      const seenByAdmin = await jobStatus(m.admin, job.id);
      expect([seenByAdmin.task, seenByAdmin.result]).toEqual(["[sealed for clawd, lyra]", "[sealed for clawd, lyra]"]);
    } finally {
      await lyra.stop("test");
    }
  });

  it("a default-queue job while orion and vega have published no sealing key: sealed for clawd, nova and lyra with a note naming them; orion's worker, started later, cannot open it: at its last attempt it records the job failed and dead-letters it, with the reason", async () => {
    // nova and lyra publish their keys (as their sidecars do); orion's and vega's sidecars have not run yet.
    await (await sealing("nova")).close();
    await (await sealing("lyra")).close();
    const task = "SEALED-JOB-TASK-2 summarise the plan";
    const job = await submitJob(clawd, { from: "clawd", task, maxAttempts: 1 });
    expect(job.note).toBe("sealed for clawd, lyra, nova; orion, vega (granted queue default) published no sealing key and cannot run it");
    const orion = await worker("orion");
    try {
      const [dead] = await until("orion's dead letter of the job", async () => {
        const d = await storedEnvelopes(m.admin, "DLQ-orion", "dlq.orion.>");
        return d.length ? d : undefined;
      });
      expect(dead?.body).toMatchObject({ originalId: job.id, reason: "its sealed task cannot be opened here: sealed for clawd, lyra, nova, not for orion" });
      expect(hooks.received.some((h) => (h.body.message ?? "").includes("SEALED-JOB-TASK-2"))).toBe(false);
      const seen = await jobStatus(clawd, job.id);
      expect([seen.state, seen.worker, seen.error]).toEqual(["failed", "orion", "its sealed task cannot be opened here: sealed for clawd, lyra, nova, not for orion"]);
    } finally {
      await orion.stop("test");
    }
  });

  it("vega has published no sealing key (no sidecar of vega's ever ran): a job it submits from a CLI without a keyring goes clear, and submit says why; a gpu job clawd submits is still sealed for lyra and clawd", async () => {
    const vega = await m.as("vega");
    // As `mesh job submit` on a Mac without vega's sidecar: a one-off key, nothing published.
    const cli = await startSealing(vega, "vega", join(mkdtempSync(join(tmpdir(), "mesh-keys-vega-")), "none.json"), await MeshVerifier.open(vega, log), log, { publish: false, create: false });
    expect(cli?.selfReads).toBe(false);
    const job = await submitJob(vega, { from: "vega", task: "CLEAR-BY-NEED tidy", needs: ["gpu"] });
    expect(job.note).toBe("vega has published no sealing key (its sidecar has not run since sealed bodies came in), so the result could not be sealed for it: this job went in clear");
    expect((await jobStatus(m.admin, job.id)).task).toBe("CLEAR-BY-NEED tidy");
    const sealed = await submitJob(clawd, { from: "clawd", task: "still sealed", needs: ["gpu"] });
    expect((await jobStatus(m.admin, sealed.id)).task).toBe("[sealed for clawd, lyra]");
    await vega.close();
  });
});
