import { z } from "zod";
import { isIdentity } from "./identity.js";
import { SHA_RE } from "./repos.js";
import { sealedBodySchemaFor } from "./envelope.js";

/**
 * Sealed jobs (README "Sealed bodies"): on a secure mesh a job's task is sealed for its submitter
 * and every worker granted its queue and needs, and its result for the submitter and the worker
 * that ran it. The sealed form travels beside an empty clear field (`task: ""` + `sealedTask`,
 * `result: ""` + `sealedResult`), bound to the job (`job.<id>.task`, `job.<id>.result`).
 */
export const MAX_JOB_READERS = 64;
/** The longest task that is sealed (base64 makes it a third larger, and the submission record must still fit). */
export const SEALED_TASK_MAX = 160 * 1024;
/** A result is cut to this before it is sealed (so the sealed run record still fits). */
export const SEALED_RESULT_MAX = 192 * 1024;
const sealedJobSchema = sealedBodySchemaFor(MAX_JOB_READERS);
/** What a job's sealed task or result is bound to (the AES-GCM additional data). */
export function sealedJobPart(id: string, part: "task" | "result"): string {
  return `job.${id}.${part}`;
}

/** The repo a job is pinned to: the submitter's name for it and its remote (credentials stripped); never a path. */
export const pinnedRepoSchema = z
  .object({
    name: z.string().refine(isIdentity, { message: "must be a repo name" }),
    remote: z.string().min(1).max(2048),
  })
  .strict();
/** A full commit SHA (the submitter resolved `--at <sha|branch>` in its clone). */
export const commitShaSchema = z.string().regex(SHA_RE, { message: "must be a full commit SHA" });
const pin = { repo: pinnedRepoSchema.optional(), sha: commitShaSchema.optional() };

/** A worker serves the jobs needing any subset of its capabilities (2^n consumers), so n is capped. */
export const MAX_CAPABILITIES = 6;

/** What a job envelope (kind "job", type = queue) carries as its body. */
export const jobBodySchema = z
  .object({
    /** The task; "" when it is sealed. */
    task: z.string().max(256 * 1024),
    sealedTask: sealedJobSchema.optional(),
    queue: z.string().refine(isIdentity, { message: "must be a queue name" }),
    needs: z.array(z.string().refine(isIdentity, { message: "must be a capability name" })).max(8),
    /** Give up on a run after this long (the worker reports a timeout failure). */
    timeoutMs: z.number().int().positive().max(24 * 3600_000),
    /** Runs before the job is dead-lettered. */
    maxAttempts: z.number().int().min(1).max(20),
    /** The repo the job is about; the worker checks out `at` in a worktree of its clone before the turn. */
    repo: pinnedRepoSchema.optional(),
    at: commitShaSchema.optional(),
  })
  .strict()
  .refine((b) => (b.repo === undefined) === (b.at === undefined), { message: "repo and at go together" })
  .refine((b) => (b.task.length > 0) !== (b.sealedTask !== undefined), { message: "a job has a task, in clear or sealed (not both)", path: ["task"] });
export type JobBody = z.infer<typeof jobBodySchema>;

export const jobStates = ["queued", "running", "done", "failed", "cancelled"] as const;
export type JobState = (typeof jobStates)[number];

/**
 * A job as every reader shows it: the state its rules (subjects/job-rules.ts) derive from the
 * submitter's record and the runs of the workers that held its claim.
 */
export const jobRecordSchema = z
  .object({
    id: z.string(),
    task: z.string(),
    sealedTask: sealedJobSchema.optional(),
    queue: z.string(),
    needs: z.array(z.string()),
    state: z.enum(jobStates),
    submittedBy: z.string(),
    submittedAt: z.string(),
    /** The job's message on JOBS that its current run claimed. */
    seq: z.number().optional(),
    worker: z.string().optional(),
    attempts: z.number().default(0),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    result: z.string().optional(),
    sealedResult: sealedJobSchema.optional(),
    error: z.string().optional(),
    cancelRequested: z.boolean().optional(),
    /** The commit the job ran at (a pinned job: `mesh job submit --repo --at`). */
    ...pin,
  })
  .strict();
export type JobRecord = z.infer<typeof jobRecordSchema>;

/**
 * Every stored version of a job record says who wrote it (`by`), the KV revision it replaces
 * (`prev`, 0 for the first) and is signed by its writer. It is written with that expected revision,
 * so a version put back later (a rollback or a replay) names a revision that is no longer the one
 * before it, and every reader refuses it.
 */
const versioned = {
  prev: z.number().int().min(0),
  by: z.string(),
  sig: z.string().max(256).optional(),
};

/**
 * The submitter's part (key `sub.<job>` in the submitter's own bucket, which only it can write):
 * what the job is. Written once, before the job is offered, so the broker's timestamp on it is
 * when the job was submitted: a copy of the id under anyone else's name is always later.
 */
export const jobSubmissionSchema = z
  .object({
    kind: z.literal("submission"),
    id: z.string(),
    task: z.string(),
    sealedTask: sealedJobSchema.optional(),
    queue: z.string(),
    needs: z.array(z.string()),
    submittedBy: z.string(),
    submittedAt: z.string(),
    ...pin,
    ...versioned,
  })
  .strict();
export type JobSubmission = z.infer<typeof jobSubmissionSchema>;

/** The submitter's cancel (key `cancel.<job>` in its own bucket): a worker offered it drops it; a running worker stops. */
export const jobCancelSchema = z
  .object({
    kind: z.literal("cancel"),
    id: z.string(),
    cancelledAt: z.string(),
    ...versioned,
  })
  .strict();
export type JobCancel = z.infer<typeof jobCancelSchema>;

export const runStates = ["running", "retrying", "done", "failed", "cancelled"] as const;
export type RunState = (typeof runStates)[number];

/**
 * A worker's part (key `run.<job>` in the worker's own bucket): the claim it holds (the job's
 * JetStream message and which delivery of it), and what became of that run.
 */
export const jobRunSchema = z
  .object({
    kind: z.literal("run"),
    id: z.string(),
    submittedBy: z.string(),
    worker: z.string(),
    claim: z.object({ seq: z.number().int().positive(), delivery: z.number().int().positive() }).strict(),
    state: z.enum(runStates),
    startedAt: z.string(),
    finishedAt: z.string().optional(),
    result: z.string().optional(),
    sealedResult: sealedJobSchema.optional(),
    error: z.string().optional(),
    ...versioned,
  })
  .strict();
export type JobRun = z.infer<typeof jobRunSchema>;

export const jobVersionSchema = z.discriminatedUnion("kind", [jobSubmissionSchema, jobCancelSchema, jobRunSchema]);
export type JobVersion = z.infer<typeof jobVersionSchema>;
