import { bodyText } from "../../subjects/mod.js";
import { cancelJob, jobStatus, listJobs, submitJob, waitForJob, type JobView } from "../../src/features/jobs/client.js";
import { parseDuration } from "../../src/base/duration.js";
import { resolvePin } from "../../src/features/repos/checkout.js";
import { MeshError } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, readStdin, resolved, selfIdentity, withConnection } from "./common.js";

interface SubmitOpts extends GlobalOptions {
  queue: string;
  needs?: string[];
  wait?: boolean;
  timeout: string;
  attempts: number;
  json?: boolean;
  repo?: string;
  at?: string;
}

export async function submit(task: string | undefined, opts: SubmitOpts): Promise<number> {
  const r = await resolved(opts);
  const from = selfIdentity(r);
  const text = task ?? (await readStdin("task"));
  const timeoutMs = parseDuration(opts.timeout);
  const needs = (opts.needs ?? []).flatMap((n) => n.split(",")).map((n) => n.trim()).filter(Boolean);
  if ((opts.repo === undefined) !== (opts.at === undefined)) throw new MeshError("--repo and --at go together (mesh job submit --repo cackles --at main …)", 2);
  const pin = opts.repo !== undefined && opts.at !== undefined ? await resolvePin(r.config.repos ?? [], opts.repo, opts.at) : undefined;
  return withConnection(r, async (nc) => {
    const job = await submitJob(nc, { from, task: text, queue: opts.queue, needs, timeoutMs, maxAttempts: opts.attempts, ...(pin ? { pin } : {}) });
    if (!opts.wait) {
      if (opts.json) printJson(job);
      else process.stdout.write(`${job.id}\n`);
      return 0;
    }
    if (!opts.json) process.stderr.write(`job ${job.id} queued; waiting\n`);
    const done = await waitForJob(nc, job.id, timeoutMs);
    if (opts.json) printJson(done);
    else if (done.state === "done") process.stdout.write(`${done.result ?? ""}\n`);
    if (done.state !== "done") {
      if (opts.json) return 4;
      throw new MeshError(`job ${job.id} ${done.state}: ${done.error ?? "no reason given"}`, 4);
    }
    return 0;
  });
}

function line(j: JobView): string {
  const who = j.worker ? ` on ${j.worker}` : "";
  const extra = j.state === "queued" && j.why ? ` — ${j.why}` : j.error && j.state !== "done" ? ` — ${j.error}` : "";
  const task = j.task.length > 50 ? `${j.task.slice(0, 47)}...` : j.task;
  const at = j.repo && j.sha ? ` @${j.repo.name}:${j.sha.slice(0, 12)}` : "";
  return `${j.id}  ${j.state.padEnd(9)} ${j.queue}${j.needs.length ? `[${j.needs.join("+")}]` : ""}${who}${at}  ${JSON.stringify(task)}${extra}`;
}

export async function status(id: string, opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const r = await resolved(opts);
  const j = await withConnection(r, (nc) => jobStatus(nc, id));
  if (opts.json) return printJson(j);
  const out = [line(j), `  submitted by ${j.submittedBy} at ${j.submittedAt}; attempts ${j.attempts}`];
  if (j.repo && j.sha) out.push(`  at ${j.repo.name}@${j.sha} (${j.repo.remote})`);
  if (j.state === "done") out.push(`  result: ${j.result}`);
  // Versions someone wrote that the rules refuse: shown so the owner sees the attempt, never the state.
  for (const r of j.refusedVersions ?? []) out.push(`  refused: ${r}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

export async function list(opts: GlobalOptions & { json?: boolean; state?: string }): Promise<void> {
  const r = await resolved(opts);
  let jobs = await withConnection(r, (nc) => listJobs(nc, r.identity));
  if (opts.state) jobs = jobs.filter((j) => j.state === opts.state);
  if (opts.json) return printJson(jobs);
  if (jobs.length === 0) return void process.stdout.write("no jobs\n");
  process.stdout.write(`${jobs.map(line).join("\n")}\n`);
}

export async function cancel(id: string, opts: GlobalOptions): Promise<void> {
  const r = await resolved(opts);
  const j = await withConnection(r, (nc) => cancelJob(nc, id, selfIdentity(r)));
  process.stdout.write(j.state === "cancelled" ? `cancelled ${id}\n` : `asked ${j.worker ?? "its worker"} to stop ${id}\n`);
}

export { bodyText };
