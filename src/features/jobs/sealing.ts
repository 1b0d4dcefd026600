import type { NatsConnection } from "@nats-io/nats-core";
import { MAX_JOB_READERS, SEALED_RESULT_MAX, SEALED_TASK_MAX, sealedJobPart, type JobRecord } from "../../../subjects/mod.js";
import { sealBody, sealedFor, type SealedBody } from "../../../subjects/sealed.js";
import { MeshError } from "../../base/errors.js";
import { firstLine } from "../../base/nats-errors.js";
import { SealingError, openWith, sealerOf } from "../../bus/sealer.js";
import type { MeshVerifier } from "../../bus/verify.js";
import { cut } from "./offer.js";

/**
 * Sealed jobs (subjects/jobs.ts): the task sealed for its submitter and every worker granted its
 * queue and needs that has published a sealing key; the result for the submitter and the worker
 * that ran it. Without a sealer (an open mesh, sealed bodies off) both stay clear.
 */

/**
 * The task as a job carries it: clear, or "" and sealed (`readers`: who can read it). `note` says
 * why it went clear, or which granted workers cannot read it (they published no key yet).
 */
export type TaskForm = { task: string; sealedTask?: SealedBody; readers?: string[]; note?: string };

/** Seals a job's task for its submitter and its granted workers; clear without a sealer. */
export async function sealTask(nc: NatsConnection, verifier: MeshVerifier, job: { id: string; queue: string; needs: readonly string[]; task: string }): Promise<TaskForm> {
  const s = sealerOf(nc);
  if (!s) return { task: job.task };
  if (Buffer.byteLength(job.task) > SEALED_TASK_MAX) {
    throw new MeshError(`a sealed task is at most ${SEALED_TASK_MAX / 1024} KiB (this one is ${Math.ceil(Buffer.byteLength(job.task) / 1024)} KiB): put the rest in a shared repo and pin the job to it`);
  }
  let workers: string[];
  try {
    workers = (await verifier.grantedFor(job.queue, job.needs)).filter((w) => w !== s.self);
  } catch (err) {
    throw new SealingError(`cannot list the workers granted queue ${job.queue} to seal the job for (${firstLine(err)}); not sent in clear`);
  }
  // The submitter reads its job with the key its sidecar published (a CLI on a Mac without that
  // keyring seals for it too); with none, the result could not be sealed for it, so the job goes clear.
  const own = s.selfReads ? s.keyring.publicKey : await s.keyOf(s.self);
  if (!own) {
    return { task: job.task, note: `${s.self} has published no sealing key (its sidecar has not run since sealed bodies came in), so the result could not be sealed for it: this job went in clear` };
  }
  const readers: Record<string, string> = { [s.self]: own };
  const unreadableBy: string[] = [];
  const keys = await Promise.all(workers.map((w) => s.keyOf(w)));
  workers.forEach((w, i) => {
    const key = keys[i];
    if (key) readers[w] = key;
    else unreadableBy.push(w);
  });
  const names = Object.keys(readers);
  if (names.length > MAX_JOB_READERS) throw new MeshError(`a sealed job has at most ${MAX_JOB_READERS} readers; ${names.length} identities are granted queue ${job.queue} with ${job.needs.join(" + ") || "no needs"}`);
  const granted = `queue ${job.queue}${job.needs.length ? ` with ${job.needs.join(" + ")}` : ""}`;
  // As a message to an identity without a key: clear, and said (no worker could read it sealed).
  if (!names.some((n) => n !== s.self)) {
    const note = workers.length ? `no worker granted ${granted} has published a sealing key (${workers.join(", ")}: their sidecars have not run since sealed bodies came in), so this job went in clear` : `no identity is granted ${granted} yet, so this job went in clear`;
    return { task: job.task, note };
  }
  return {
    task: "",
    sealedTask: sealBody(sealedJobPart(job.id, "task"), job.task, s.keyring.current, readers),
    readers: names.sort(),
    ...(unreadableBy.length ? { note: `sealed for ${names.sort().join(", ")}; ${unreadableBy.join(", ")} (granted ${granted}) published no sealing key and cannot run it` } : {}),
  };
}

/** The job's task as this connection reads it, or why it cannot (one line). */
export function openTask(nc: NatsConnection, id: string, form: { task: string; sealedTask?: SealedBody | undefined }): { ok: true; task: string } | { ok: false; reason: string } {
  if (!form.sealedTask) return { ok: true, task: form.task };
  const opened = openWith(nc, sealedJobPart(id, "task"), form.sealedTask);
  if (!opened.ok) return opened;
  return typeof opened.body === "string" ? { ok: true, task: opened.body } : { ok: false, reason: "the sealed task is not text" };
}

/** Seals a run's result for the job's submitter and this worker; clear when the job came clear or the submitter has no key. */
export async function sealResult(nc: NatsConnection, id: string, submitter: string, result: string, taskWasSealed: boolean): Promise<{ result: string; sealedResult?: SealedBody }> {
  const s = sealerOf(nc);
  if (!s || !taskWasSealed) return { result };
  const theirs = await s.keyOf(submitter);
  if (!theirs) throw new SealingError(`${submitter} has no published sealing key to seal the result of job ${id} for; not stored in clear`);
  const text = cut(result, SEALED_RESULT_MAX);
  const readers = { [submitter]: theirs, ...(s.selfReads ? { [s.self]: s.keyring.publicKey } : {}) };
  return { result: "", sealedResult: sealBody(sealedJobPart(id, "result"), text, s.keyring.current, readers) };
}

/**
 * A job record as this connection shows it: a sealed task and result opened where its keyring
 * can, else "[sealed for a, b]"; the sealed forms themselves are left out.
 */
export function openRecord(nc: NatsConnection, rec: JobRecord): JobRecord {
  const { sealedTask, sealedResult, ...clear } = rec;
  const out: JobRecord = clear;
  if (sealedTask) {
    const t = openTask(nc, rec.id, { task: rec.task, sealedTask });
    out.task = t.ok ? t.task : `[sealed for ${sealedFor(sealedTask)}]`;
  }
  if (sealedResult) {
    const r = openWith(nc, sealedJobPart(rec.id, "result"), sealedResult);
    out.result = r.ok && typeof r.body === "string" ? r.body : `[sealed for ${sealedFor(sealedResult)}]`;
  }
  return out;
}
