import { JOB_RESULT_MAX } from "../../../broker/definitions.js";
import { MAX_CAPABILITIES, type Envelope, type JobBody, type JobRecord } from "../../../subjects/mod.js";

/* What a worker takes (the needs it serves) and what it refuses (an offer its record rules out). */

/** Every subset (the empty one too) of the capabilities: the needs a worker can serve. */
export function eligibleNeeds(capabilities: string[]): string[][] {
  const caps = [...new Set(capabilities)].sort();
  if (caps.length > MAX_CAPABILITIES) {
    throw new Error(`at most ${MAX_CAPABILITIES} capabilities per worker (got ${caps.length}: ${caps.join(", ")})`);
  }
  const out: string[][] = [];
  for (let mask = 0; mask < 1 << caps.length; mask++) out.push(caps.filter((_, i) => mask & (1 << i)));
  return out;
}


/**
 * Why a worker must not run this offer of a job, by its record: "drop" for an offer of a job that
 * ended on this same message (a redelivery after its ack was lost, or a cancel before it ran), a
 * reason for a dead letter otherwise (no submission, a job that differs from it, a replay).
 */
export function offerRefusal(rec: JobRecord | undefined, env: Envelope, body: JobBody, seq: number): string | "drop" | undefined {
  if (!rec) return `no submission of job ${env.id} in ${env.from}'s job records (a job is recorded before it is offered)`;
  if (rec.submittedBy !== env.from) return `job ${env.id} was submitted by ${rec.submittedBy}, not ${env.from}`;
  if (rec.task !== body.task || rec.queue !== body.queue || rec.needs.join("+") !== body.needs.join("+")) {
    return `job ${env.id} differs from its submission (task, queue or needs)`;
  }
  if (rec.sha !== body.at || rec.repo?.name !== body.repo?.name || rec.repo?.remote !== body.repo?.remote) {
    return `job ${env.id} differs from its submission (repo or commit)`;
  }
  // rec.seq: the message its current run claimed (none before a worker took it).
  const sameMessage = rec.seq === undefined || rec.seq === seq;
  if (rec.state === "cancelled" && !rec.worker) return "drop";
  if (rec.state === "done" || rec.state === "failed" || rec.state === "cancelled") {
    return sameMessage ? "drop" : `replay: job ${env.id} already ${rec.state}${rec.worker ? ` (${rec.worker})` : ""}; a re-published job is not run again`;
  }
  if (rec.state === "running" && !sameMessage) return `replay: job ${env.id} is running on ${rec.worker ?? "another worker"} from message ${rec.seq}; this copy (message ${seq}) is not run`;
  return undefined;
}

/** A result that would not fit its record is cut, and says so. */
export function cut(text: string, max = JOB_RESULT_MAX): string {
  if (Buffer.byteLength(text) <= max) return text;
  return `${Buffer.from(text).subarray(0, max - 100).toString("utf8")}\n[… cut to ${max} bytes by openclaw-mesh]`;
}
