import { z } from "zod";
import { isIdentity } from "./identity.js";

/** A worker serves the jobs needing any subset of its capabilities (2^n consumers), so n is capped. */
export const MAX_CAPABILITIES = 6;

/** What a job envelope (kind "job", type = queue) carries as its body. */
export const jobBodySchema = z
  .object({
    task: z.string().min(1).max(256 * 1024),
    queue: z.string().refine(isIdentity, { message: "must be a queue name" }),
    needs: z.array(z.string().refine(isIdentity, { message: "must be a capability name" })).max(8),
    /** Give up on a run after this long (the worker reports a timeout failure). */
    timeoutMs: z.number().int().positive().max(24 * 3600_000),
    /** Runs before the job is dead-lettered. */
    maxAttempts: z.number().int().min(1).max(20),
  })
  .strict();
export type JobBody = z.infer<typeof jobBodySchema>;

export const jobStates = ["queued", "running", "done", "failed", "cancelled"] as const;
export type JobState = (typeof jobStates)[number];

/** The job's record in the mesh-jobs KV bucket (key = job id), readable from any machine. */
export const jobRecordSchema = z
  .object({
    id: z.string(),
    task: z.string(),
    queue: z.string(),
    needs: z.array(z.string()),
    state: z.enum(jobStates),
    submittedBy: z.string(),
    submittedAt: z.string(),
    seq: z.number().optional(),
    worker: z.string().optional(),
    attempts: z.number().default(0),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    result: z.string().optional(),
    error: z.string().optional(),
    cancelRequested: z.boolean().optional(),
    /** Who wrote this version (the submitter or the worker), and their signature over it. */
    by: z.string().optional(),
    sig: z.string().max(256).optional(),
  })
  .strict();
export type JobRecord = z.infer<typeof jobRecordSchema>;

/**
 * Who may write which version of a job record: its submitter (queued, a cancel) or its worker
 * (anything, and only the worker a result). Checked with the writer's signature by every reader.
 */
export function recordWriterAllowed(r: JobRecord): string | undefined {
  if (!r.by) return "the record does not say who wrote it";
  if ((r.state === "done" || r.state === "failed") && r.by !== r.worker) return `a ${r.state} result written by ${r.by}, not by its worker ${r.worker ?? "(none)"}`;
  if (r.by !== r.submittedBy && r.by !== r.worker) return `written by ${r.by}, neither its submitter ${r.submittedBy} nor its worker`;
  return undefined;
}
