import type { NatsConnection } from "@nats-io/nats-core";
import { JOB_KEY_KINDS, jobBodySchema, jobKey, jobSubject, newEnvelope, newId, token, zodLine, type JobOutcome, type JobRecord } from "../../../subjects/mod.js";
import { MeshError } from "../../base/errors.js";
import { publishEnvelope } from "../../bus/publish.js";
import { listPeers } from "../presence/presence.js";
import { JobStore, type SubmissionDraft } from "./store.js";
import { sealTask } from "./sealing.js";

export interface SubmitOptions {
  from: string;
  task: string;
  queue?: string;
  needs?: string[];
  timeoutMs?: number;
  maxAttempts?: number;
  /** Pins the job to a commit of a shared repo (resolved by `resolvePin` from `--repo/--at`). */
  pin?: { repo: { name: string; remote: string }; sha: string };
}

/**
 * `mesh job submit`: records the submission in this identity's own job bucket (once), then offers
 * the job on jobs.<queue>.<needs>. The returned record's seq is the job's message on JOBS.
 */
export async function submitJob(nc: NatsConnection, o: SubmitOptions): Promise<JobRecord & { note?: string }> {
  const queue = token(o.queue ?? "default", "queue");
  const needs = [...new Set((o.needs ?? []).map((n) => token(n, "capability")))].sort();
  const job = {
    task: o.task,
    queue,
    needs,
    timeoutMs: o.timeoutMs ?? 30 * 60_000,
    maxAttempts: o.maxAttempts ?? 3,
    ...(o.pin ? { repo: o.pin.repo, at: o.pin.sha } : {}),
  };
  if (!o.task) throw new MeshError("invalid job: task: empty (say what the job is)");
  const clear = jobBodySchema.safeParse(job);
  if (!clear.success) throw new MeshError(`invalid job: ${zodLine(clear.error)}`);
  const id = newId();
  const store = await JobStore.open(nc, o.from);
  // Sealed (a secure mesh) for this identity and every worker granted the queue and needs.
  const form = await sealTask(nc, store.registry, { id, queue, needs, task: o.task });
  const sealed = form.sealedTask ? { task: "", sealedTask: form.sealedTask } : { task: o.task };
  const body = jobBodySchema.parse({ ...job, ...sealed });
  const pin = o.pin ? { repo: o.pin.repo, sha: o.pin.sha } : {};
  const submission: SubmissionDraft = { kind: "submission", id, ...sealed, queue, needs, submittedBy: o.from, submittedAt: new Date().toISOString(), ...pin };
  await store.submit(submission);
  const env = newEnvelope({ id, from: o.from, to: "*", kind: "job", type: queue, body });
  const pub = await publishEnvelope(nc, jobSubject(queue, needs), env);
  return {
    id,
    task: o.task,
    queue,
    needs,
    state: "queued",
    submittedBy: o.from,
    submittedAt: submission.submittedAt,
    ...pin,
    ...(pub.seq !== undefined ? { seq: pub.seq } : {}),
    attempts: 0,
    ...(form.note ? { note: form.note } : {}),
  };
}

export interface JobView extends JobRecord {
  /** For queued jobs: why nobody runs it yet, when that can be told. */
  why?: string;
  /** Versions the rules refused (a rewrite, a replay, a claim without a grant): shown, never the job's state. */
  refusedVersions?: string[];
}

function view(id: string, o: JobOutcome): JobView {
  if (!o.record) {
    const why = o.refused.map((r) => `${r.writer}'s ${r.key}: ${r.reason}`).join("; ");
    throw new MeshError(o.refused.length ? `job ${id}: no record that can be trusted (${why})` : `no job ${id}`);
  }
  return o.refused.length ? { ...o.record, refusedVersions: o.refused.map((r) => `${r.writer}'s ${r.key} (revision ${r.revision}): ${r.reason}`) } : o.record;
}

/** Adds the reason a queued job waits (no online worker has what it needs). */
export async function explain(nc: NatsConnection, records: JobView[]): Promise<JobView[]> {
  const queued = records.filter((r) => r.state === "queued");
  if (queued.length === 0) return records;
  const peers = (await listPeers(nc)).filter((p) => p.state === "online" && p.presence);
  return records.map((r) => {
    if (r.state !== "queued") return r;
    const able = peers.filter((p) => r.needs.every((n) => p.presence!.capabilities.includes(n)));
    if (able.length > 0) return { ...r, why: `waiting for a free worker (${able.map((p) => p.identity).join(", ")} can run it)` };
    return {
      ...r,
      why: r.needs.length ? `no online worker has ${r.needs.join(" + ")}` : "no worker is online",
    };
  });
}

export async function jobStatus(nc: NatsConnection, id: string): Promise<JobView> {
  const store = await JobStore.open(nc);
  return (await explain(nc, [view(id, await store.read(id))]))[0]!;
}

/**
 * The jobs in these identities' buckets (their submissions and runs); by default this identity's
 * own, or every bucket when no identity is given (the admin).
 */
export async function listJobs(nc: NatsConnection, self?: string): Promise<JobView[]> {
  const store = await JobStore.open(nc, self);
  const ids = await store.ids(self ? [self] : await store.bucketOwners());
  const out: JobView[] = [];
  for (const id of ids) {
    const o = await store.read(id);
    if (o.record) out.push(view(id, o));
  }
  return explain(nc, out.sort((a, b) => a.submittedAt.localeCompare(b.submittedAt)));
}

/**
 * Cancels a queued job (a worker that is offered it drops it) or asks the worker of a running one
 * to stop. Only the submitter can: the cancel is written in its own bucket, which no one else may
 * write, and readers accept a cancel only from the job's submitter.
 */
export async function cancelJob(nc: NatsConnection, id: string, self: string): Promise<JobRecord> {
  const store = await JobStore.open(nc, self);
  const cur = view(id, await store.read(id));
  if (cur.submittedBy !== self) throw new MeshError(`job ${id} was submitted by ${cur.submittedBy}; only they can cancel it`);
  if (cur.state === "done" || cur.state === "failed" || cur.state === "cancelled") throw new MeshError(`job ${id} is already ${cur.state}`);
  await store.cancel({ kind: "cancel", id, cancelledAt: new Date().toISOString() });
  return view(id, await store.read(id));
}

const FINISHED = new Set(["done", "failed", "cancelled"]);

/**
 * Waits until the job is done, failed or cancelled: re-reads it whenever any job bucket writes one
 * of its keys (a core subscription to the KV subjects), and every 2 s in case a write was missed.
 */
export async function waitForJob(nc: NatsConnection, id: string, timeoutMs: number): Promise<JobRecord> {
  const store = await JobStore.open(nc);
  const deadline = Date.now() + timeoutMs;
  const subs = JOB_KEY_KINDS.map((k) => nc.subscribe(`$KV.*.${jobKey(k, id)}`));
  let wake: (() => void) | undefined;
  for (const sub of subs) void (async () => { for await (const _ of sub) wake?.(); })().catch(() => undefined);
  let last: JobRecord | undefined;
  try {
    while (Date.now() < deadline) {
      const o = await store.read(id);
      last = o.record ?? last;
      if (o.record && FINISHED.has(o.record.state)) return o.record;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(2000, Math.max(0, deadline - Date.now())));
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      wake = undefined;
    }
  } finally {
    for (const sub of subs) sub.unsubscribe();
  }
  throw new MeshError(`job ${id} not finished within ${Math.round(timeoutMs / 1000)}s (still ${last?.state ?? "unknown"}); check later with \`mesh job status ${id}\``, 3);
}
