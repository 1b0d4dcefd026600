/** `mesh job submit|status|list|cancel`: work for whichever machine is free. register() declares them; each action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import type { JobView } from "../../src/features/jobs/client.js";
import { parseDuration } from "../../src/base/duration.js";
import { MeshError } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, parseCount, printJson, readStdin, configFor, run, selfIdentity, withConnection } from "./common.js";

/** Leaf mode, the hub away: jobs and their records live on the hub. */
const JOBS_NEED_HUB = "jobs and their records live on the hub, so this needs the link (try again once it is back)";

export function register(program: Command): void {
  const job = program.command("job").description("broadcast work to whichever machine is free");

  job
    .command("submit")
    .description("queue a task; a free worker with the needed capabilities runs it as an agent turn")
    .argument("[task]", "what to do; read from stdin when omitted")
    .option("-q, --queue <name>", "queue", "default")
    .option("-n, --needs <capability...>", "capabilities the worker must have (e.g. gpu build)")
    .option("-w, --wait", "wait and print the result")
    .option("--timeout <duration>", "how long the run (and --wait) may take", "30m")
    .option("--attempts <n>", "runs before the job is dead-lettered", (v) => parseCount(v), 3)
    .addOption(jsonFlag("print the job record as JSON"))
    .option("--repo <name>", "a shared repo of the config (repos): the worker checks out --at in a worktree first")
    .option("--at <sha|branch>", "the commit of --repo (a branch is read as the remote's); the job carries its full SHA")
    .addHelpText(
      "after",
      `
Prints the job id (or, with --wait, the result). Exit 3: not finished in time; 4: failed or cancelled.

Examples:
  $ mesh job submit "summarize today's build logs" --wait
  $ mesh job submit --needs gpu "render the charts" --timeout 2h
  $ mesh job submit --repo cackles --at main "run the test suite" --wait`,
    )
    .action(run(submit));

  job
    .command("status")
    .description("one job: state, worker, attempts, result or why it waits")
    .argument("<id>", "job id")
    .addOption(jsonFlag("print as JSON"))
    .action(run(status));

  job
    .command("list")
    .description("all jobs: queued / running / done / failed / cancelled, with the machine that ran each")
    .option("--state <state>", "only jobs in this state")
    .addOption(jsonFlag("print as JSON"))
    .action(run(list));

  job
    .command("cancel")
    .description("cancel a queued job, or ask the worker of a running one to stop")
    .argument("<id>", "job id")
    .action(run(cancel));
}

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

async function submit(task: string | undefined, opts: SubmitOpts): Promise<number> {
  const [{ submitJob, waitForJob }, { resolvePin }] = await Promise.all([import("../../src/features/jobs/client.js"), import("../../src/features/repos/checkout.js")]);
  const r = await configFor(opts);
  const from = selfIdentity(r);
  const text = task ?? (await readStdin("task"));
  const timeoutMs = parseDuration(opts.timeout);
  const needs = (opts.needs ?? []).flatMap((n) => n.split(",")).map((n) => n.trim()).filter(Boolean);
  if ((opts.repo === undefined) !== (opts.at === undefined)) throw new MeshError("--repo and --at go together (mesh job submit --repo cackles --at main …)", 2);
  const pin = opts.repo !== undefined && opts.at !== undefined ? await resolvePin(r.config.repos ?? [], opts.repo, opts.at) : undefined;
  return withConnection(r, async (nc) => {
    const { note, ...job } = await submitJob(nc, { from, task: text, queue: opts.queue, needs, timeoutMs, maxAttempts: opts.attempts, ...(pin ? { pin } : {}) });
    if (note) process.stderr.write(`${note}\n`);
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
  }, { needsHub: JOBS_NEED_HUB, seal: true });
}

function line(j: JobView): string {
  const who = j.worker ? ` on ${j.worker}` : "";
  const extra = j.state === "queued" && j.why ? ` — ${j.why}` : j.error && j.state !== "done" ? ` — ${j.error}` : "";
  const task = j.task.length > 50 ? `${j.task.slice(0, 47)}...` : j.task;
  const at = j.repo && j.sha ? ` @${j.repo.name}:${j.sha.slice(0, 12)}` : "";
  return `${j.id}  ${j.state.padEnd(9)} ${j.queue}${j.needs.length ? `[${j.needs.join("+")}]` : ""}${who}${at}  ${JSON.stringify(task)}${extra}`;
}

async function status(id: string, opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const { jobStatus } = await import("../../src/features/jobs/client.js");
  const r = await configFor(opts);
  const j = await withConnection(r, (nc) => jobStatus(nc, id), { needsHub: JOBS_NEED_HUB, seal: true });
  if (opts.json) return printJson(j);
  const out = [line(j), `  submitted by ${j.submittedBy} at ${j.submittedAt}; attempts ${j.attempts}`];
  if (j.repo && j.sha) out.push(`  at ${j.repo.name}@${j.sha} (${j.repo.remote})`);
  if (j.state === "done") out.push(`  result: ${j.result}`);
  // Versions someone wrote that the rules refuse: shown so the owner sees the attempt, never the state.
  for (const r of j.refusedVersions ?? []) out.push(`  refused: ${r}`);
  process.stdout.write(`${out.join("\n")}\n`);
}

async function list(opts: GlobalOptions & { json?: boolean; state?: string }): Promise<void> {
  const { listJobs } = await import("../../src/features/jobs/client.js");
  const r = await configFor(opts);
  let jobs = await withConnection(r, (nc) => listJobs(nc, r.identity), { needsHub: JOBS_NEED_HUB, seal: true });
  if (opts.state) jobs = jobs.filter((j) => j.state === opts.state);
  if (opts.json) return printJson(jobs);
  if (jobs.length === 0) return void process.stdout.write("no jobs\n");
  process.stdout.write(`${jobs.map(line).join("\n")}\n`);
}

async function cancel(id: string, opts: GlobalOptions): Promise<void> {
  const { cancelJob } = await import("../../src/features/jobs/client.js");
  const r = await configFor(opts);
  const j = await withConnection(r, (nc) => cancelJob(nc, id, selfIdentity(r)), { needsHub: JOBS_NEED_HUB });
  process.stdout.write(j.state === "cancelled" ? `cancelled ${id}\n` : `asked ${j.worker ?? "its worker"} to stop ${id}\n`);
}
