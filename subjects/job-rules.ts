import type { JobCancel, JobRecord, JobRun, JobSubmission } from "./jobs.js";

/**
 * Who may move a job's record, written once and applied by every reader (`mesh job status/list`,
 * `mesh top`, the web view) and by the worker before it runs a job:
 *
 *   queued ──(its worker)──▶ running ──(the same worker)──▶ done | failed | retrying (→ queued)
 *     └──(its submitter)──▶ cancelled          running ──(submitter asks, worker stops)──▶ cancelled
 *
 * - The submitter alone writes the submission (what the job is) and its cancel: they live in the
 *   submitter's own bucket, which the broker lets no one else write. The submission is written
 *   once, before the job is offered: another identity's submission of the same id is later.
 * - A run is written by the worker that holds the claim, in its own bucket. The claim is the JetStream
 *   delivery it got (the job's stream sequence and delivery count). A later delivery supersedes an
 *   earlier one (the broker handed the job out again); two workers naming the same delivery: the
 *   first written holds it.
 * - On a secure mesh the worker must be granted the job's queue and every capability it needs.
 * - Once a run ends (done, failed, cancelled) the job never runs again: a later run is a replay.
 * - A version that fails its signature or its revision chain is refused before these rules see it.
 *
 * A refused version is reported with its reason and never becomes the job's state.
 */

/** A version as read from a bucket, with what the storage-level checks found. */
export interface StoredVersion<T> {
  value: T;
  /** The identity whose bucket holds it (the only one the broker lets write there). */
  owner: string;
  revision: number;
  /** When the broker stored it. */
  created: Date;
  /** Why its signature or revision chain is refused, if it is. */
  refused?: string;
}

export interface Refusal {
  /** The bucket's owner (who wrote it, as far as the broker is concerned). */
  writer: string;
  key: string;
  revision: number;
  reason: string;
}

export interface JobGrants {
  queues: readonly string[];
  capabilities: readonly string[];
}

export interface RuleContext {
  /** A secure mesh (signed records; grants apply). */
  secure: boolean;
  /** What the admin granted an identity; undefined when the registry does not say. */
  grantsOf(id: string): JobGrants | undefined;
}

export interface JobOutcome {
  /** The job as its valid versions tell it; absent when no valid submission exists. */
  record?: JobRecord;
  refused: Refusal[];
}

const FINAL = new Set(["done", "failed", "cancelled"]);

/** The two kinds of key in a job bucket: sub.<job> (the submitter's), run.<job> (a worker's). */
export const JOB_KEY_KINDS = ["sub", "cancel", "run"] as const;
export type JobKeyKind = (typeof JOB_KEY_KINDS)[number];

export function jobKey(kind: JobKeyKind, id: string): string {
  return `${kind}.${id}`;
}

/** Why a worker may not run this job at all (secure mesh): it lacks the queue or a capability. */
export function grantRefusal(worker: string, job: { queue: string; needs: readonly string[] }, ctx: RuleContext): string | undefined {
  if (!ctx.secure) return undefined;
  const g = ctx.grantsOf(worker);
  if (!g) return `${worker} has no job grants in the identity registry`;
  if (!g.queues.includes(job.queue)) return `${worker} is not granted queue ${job.queue}`;
  const missing = job.needs.filter((n) => !g.capabilities.includes(n));
  if (missing.length) return `${worker} is not granted ${missing.join(" + ")}`;
  return undefined;
}

function refusal(v: StoredVersion<{ id: string }>, kind: JobKeyKind, reason: string): Refusal {
  return { writer: v.owner, key: jobKey(kind, v.value.id), revision: v.revision, reason };
}

/** Every stored version of one job, from every bucket. */
export interface JobVersions {
  subs: StoredVersion<JobSubmission>[];
  cancels: StoredVersion<JobCancel>[];
  runs: StoredVersion<JobRun>[];
}

/** The job's state from its submission(s), cancel and runs, by the rules above. */
export function jobOutcome({ subs, cancels, runs }: JobVersions, ctx: RuleContext): JobOutcome {
  const refused: Refusal[] = [];
  const validSubs: StoredVersion<JobSubmission>[] = [];
  for (const s of subs) {
    if (s.refused) refused.push(refusal(s, "sub", s.refused));
    else if (s.value.by !== s.owner || s.value.submittedBy !== s.owner) {
      refused.push(refusal(s, "sub", `a submission in ${s.owner}'s records claiming to be written by ${s.value.by} for ${s.value.submittedBy}`));
    } else validSubs.push(s);
  }
  validSubs.sort((a, b) => a.created.getTime() - b.created.getTime() || a.owner.localeCompare(b.owner));
  const sub = validSubs[0];
  for (const other of validSubs.slice(1)) {
    refused.push(refusal(other, "sub", `job ${other.value.id} was submitted by ${sub!.owner} at ${sub!.value.submittedAt}; a second submission by ${other.owner} is refused`));
  }
  if (!sub) {
    for (const r of runs) refused.push(refusal(r, "run", r.refused ?? `a run of job ${r.value.id}, which has no valid submission`));
    return { refused };
  }
  const job = sub.value;
  let cancelledAt: string | undefined;
  for (const c of cancels) {
    if (c.refused) refused.push(refusal(c, "cancel", c.refused));
    else if (c.owner !== job.submittedBy || c.value.by !== c.owner) refused.push(refusal(c, "cancel", `a cancel by ${c.owner}; only its submitter ${job.submittedBy} can cancel job ${job.id}`));
    else cancelledAt = c.value.cancelledAt;
  }

  const valid: StoredVersion<JobRun>[] = [];
  for (const r of runs) {
    const v = r.value;
    const why =
      r.refused ??
      (v.by !== r.owner || v.worker !== r.owner
        ? `a run in ${r.owner}'s records claiming to be written by ${v.by} for worker ${v.worker}`
        : v.submittedBy !== job.submittedBy
          ? `a run naming ${v.submittedBy} as the submitter of ${job.submittedBy}'s job`
          : v.state === "cancelled" && !cancelledAt
              ? `cancelled by its worker ${r.owner} although its submitter never cancelled it`
              : grantRefusal(r.owner, job, ctx));
    if (why) refused.push(refusal(r, "run", why));
    else valid.push(r);
  }
  // Claim order: the job's message, then its delivery; the first written holds a contested claim.
  valid.sort((a, b) => a.value.claim.seq - b.value.claim.seq || a.value.claim.delivery - b.value.claim.delivery || a.created.getTime() - b.created.getTime());
  let current: StoredVersion<JobRun> | undefined;
  for (const r of valid) {
    if (current && FINAL.has(current.value.state)) {
      refused.push(refusal(r, "run", `job ${job.id} already ${current.value.state} (${current.owner}, delivery ${current.value.claim.delivery}); a later run by ${r.owner} is a replay`));
      continue;
    }
    if (current && current.value.claim.seq === r.value.claim.seq && current.value.claim.delivery === r.value.claim.delivery) {
      refused.push(refusal(r, "run", `delivery ${r.value.claim.delivery} of message ${r.value.claim.seq} is already claimed by ${current.owner}`));
      continue;
    }
    current = r;
  }

  const record: JobRecord = {
    id: job.id,
    task: job.task,
    ...(job.sealedTask ? { sealedTask: job.sealedTask } : {}),
    queue: job.queue,
    needs: job.needs,
    state: "queued",
    submittedBy: job.submittedBy,
    submittedAt: job.submittedAt,
    attempts: 0,
    ...(job.repo ? { repo: job.repo } : {}),
    ...(job.sha ? { sha: job.sha } : {}),
  };
  if (!current) {
    if (cancelledAt) Object.assign(record, { state: "cancelled", finishedAt: cancelledAt, error: "cancelled before it ran" });
    return { record, refused };
  }
  const run = current.value;
  Object.assign(record, {
    worker: run.worker,
    seq: run.claim.seq,
    attempts: run.claim.delivery,
    startedAt: run.startedAt,
    ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
    ...(run.result !== undefined ? { result: run.result } : {}),
    ...(run.sealedResult ? { sealedResult: run.sealedResult } : {}),
    ...(run.error !== undefined ? { error: run.error } : {}),
  });
  switch (run.state) {
    case "running":
      record.state = "running";
      if (cancelledAt) record.cancelRequested = true;
      break;
    case "retrying":
      record.state = cancelledAt ? "cancelled" : "queued";
      if (cancelledAt) Object.assign(record, { finishedAt: cancelledAt, error: `cancelled before attempt ${run.claim.delivery + 1} (${run.error ?? "previous attempt failed"})` });
      break;
    default:
      record.state = run.state;
  }
  return { record, refused };
}
