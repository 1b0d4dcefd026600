import type { NatsConnection } from "@nats-io/nats-core";
import { jobBodySchema, jobSubject, newEnvelope, newId, token, zodLine, type JobRecord } from "../../../subjects/mod.js";
import { MeshError } from "../../base/errors.js";
import { publishEnvelope } from "../../bus/publish.js";
import { listPeers } from "../presence/presence.js";
import { JobStore, type StoredRecord } from "./store.js";

export interface SubmitOptions {
  from: string;
  task: string;
  queue?: string;
  needs?: string[];
  timeoutMs?: number;
  maxAttempts?: number;
}

/** `mesh job submit`: records the job as queued, then offers it on jobs.<queue>.<needs>. */
export async function submitJob(nc: NatsConnection, o: SubmitOptions): Promise<JobRecord> {
  const queue = token(o.queue ?? "default", "queue");
  const needs = [...new Set((o.needs ?? []).map((n) => token(n, "capability")))].sort();
  const body = jobBodySchema.safeParse({
    task: o.task,
    queue,
    needs,
    timeoutMs: o.timeoutMs ?? 30 * 60_000,
    maxAttempts: o.maxAttempts ?? 3,
  });
  if (!body.success) throw new MeshError(`invalid job: ${zodLine(body.error)}`);
  const id = newId();
  const store = await JobStore.open(nc, o.from);
  const record: JobRecord = {
    id,
    task: o.task,
    queue,
    needs,
    state: "queued",
    submittedBy: o.from,
    submittedAt: new Date().toISOString(),
    attempts: 0,
  };
  await store.create(record);
  const env = newEnvelope({ id, from: o.from, to: "*", kind: "job", type: queue, body: body.data });
  const pub = await publishEnvelope(nc, jobSubject(queue, needs), env);
  return (await store.update(id, (r) => ({ ...r, ...(pub.seq !== undefined ? { seq: pub.seq } : {}) }))) ?? record;
}

export interface JobView extends JobRecord {
  /** For queued jobs: why nobody runs it yet, when that can be told. */
  why?: string;
  /** The stored version failed its signature or writer check: shown, never trusted. */
  refused?: string;
}

function view(s: StoredRecord): JobRecord & { refused?: string } {
  return s.refused ? { ...s.record, refused: s.refused } : s.record;
}

/** Adds the reason a queued job waits (no online worker has what it needs). */
export async function explain(nc: NatsConnection, records: Array<JobRecord & { refused?: string }>): Promise<JobView[]> {
  const queued = records.filter((r) => r.state === "queued" && !r.refused);
  if (queued.length === 0) return records;
  const peers = (await listPeers(nc)).filter((p) => p.state === "online" && p.presence);
  return records.map((r) => {
    if (r.state !== "queued" || r.refused) return r;
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
  const cur = await store.get(id);
  if (!cur) throw new MeshError(`no job ${id}`);
  return (await explain(nc, [view(cur)]))[0]!;
}

export async function listJobs(nc: NatsConnection): Promise<JobView[]> {
  const store = await JobStore.open(nc);
  return explain(nc, (await store.list()).map(view));
}

/**
 * Cancels a queued job (its record says so; a worker that is offered it drops it) or asks its
 * worker to stop a running one. Only the submitter may: the record is signed, and readers refuse a
 * cancel written by anyone else.
 */
export async function cancelJob(nc: NatsConnection, id: string, self?: string): Promise<JobRecord> {
  const store = await JobStore.open(nc, self);
  const cur = await store.get(id);
  if (!cur) throw new MeshError(`no job ${id}`);
  if (cur.refused) throw new MeshError(`job ${id}: its record cannot be trusted (${cur.refused})`);
  if (store.secure && self && cur.record.submittedBy !== self) throw new MeshError(`job ${id} was submitted by ${cur.record.submittedBy}; only they can cancel it`);
  if (cur.record.state === "done" || cur.record.state === "failed" || cur.record.state === "cancelled") {
    throw new MeshError(`job ${id} is already ${cur.record.state}`);
  }
  const next = await store.update(id, (r) =>
    r.state === "queued"
      ? { ...r, state: "cancelled", finishedAt: new Date().toISOString(), error: "cancelled before it ran" }
      : r.state === "running"
        ? { ...r, cancelRequested: true }
        : undefined,
  );
  return next ?? cur.record;
}

/** Waits until the job is done, failed or cancelled. */
export async function waitForJob(nc: NatsConnection, id: string, timeoutMs: number): Promise<JobRecord> {
  const store = await JobStore.open(nc);
  const deadline = Date.now() + timeoutMs;
  const watch = await store.kv.watch({ key: id });
  const timer = setTimeout(() => watch.stop(), timeoutMs);
  try {
    for await (const e of watch) {
      if (e.operation !== "PUT") continue;
      const r = await store.get(id);
      if (r && !r.refused && ["done", "failed", "cancelled"].includes(r.record.state)) return r.record;
    }
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
  if (Date.now() >= deadline) throw new MeshError(`job ${id} not finished within ${Math.round(timeoutMs / 1000)}s (still ${(await store.get(id))?.record.state ?? "unknown"}); check later with \`mesh job status ${id}\``, 3);
  throw new MeshError(`job ${id}: watch ended`);
}

export { newId };
