import { storedAt } from "../../bus/stored-at.js";
import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { JOB_ACK_WAIT_MS } from "../../../broker/definitions.js";
import { ensureJobConsumer } from "../../../broker/provision.js";
import { hubJetStream, hubJetStreamManager } from "../../bus/domain.js";
import { STREAMS, jobConsumerName } from "../../../subjects/names.js";
import { MAX_CAPABILITIES, jobBodySchema, jobNeedsToken, parseEnvelope, zodLine, type Envelope, type JobBody } from "../../../subjects/mod.js";
import { DEFAULT_BACKOFF, RESUME_BACKOFF, backoffDelay, sleep } from "../../base/backoff.js";
import { firstLine, permissionDenied } from "../../base/nats-errors.js";
import type { MeshVerifier } from "../../bus/verify.js";
import type { JobRecord } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import { safeNak, safeWorking } from "../../bus/acks.js";
import { SlotPool, consumeDurable } from "../../bus/consume.js";
import { deadLetterRefusal } from "../../bus/dead-letter.js";
import type { EventPublisher } from "../../bus/events.js";
import type { AgentPort, DeliveryResult, JobTurn, ReplyTicket } from "../../agent/port.js";
import { JobStore, type RunDraft } from "./store.js";
import { cut, offerRefusal } from "./offer.js";
import { CheckoutError, checkoutForJob, type Checkout } from "../repos/checkout.js";
import type { RepoConfig } from "../repos/config.js";

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

export interface JobWorkerOptions {
  nc: NatsConnection;
  self: string;
  agent: AgentPort;
  events: EventPublisher;
  log: Logger;
  capabilities: string[];
  queues?: string[];
  concurrency?: number;
  /** Ack wait of the job consumers this worker creates (default 30 s; in-progress acks extend it). */
  ackWaitMs?: number;
  /** Checks the submitter's signature on every job (secure mesh); an unsigned or forged job is dead-lettered. */
  verifier?: MeshVerifier;
  /** Shared repos (config `repos`): a pinned job is checked out from these clones. */
  repos?: RepoConfig[];
  /** Where pinned jobs' worktrees go (the sidecar's state dir/worktrees); removed after each turn. */
  worktreeRoot?: string;
}

export interface JobStats {
  started: number;
  completed: number;
  failed: number;
  running: number;
}

/**
 * Runs jobs as agent turns on the local gateway. Pulls only while a slot is free (concurrency,
 * default 1), from the shared durable consumer of every jobs.<queue>.<needs> it can serve. A running
 * job's claim is kept alive with in-progress acks; a failed run goes back (nak with delay) until
 * maxAttempts, then to the DLQ.
 */
/** How long a worker keeps trying to record a finished run's outcome. */
const OUTCOME_RETRY_MS = 10 * 60_000;

export class JobWorker {
  readonly stats: JobStats = { started: 0, completed: 0, failed: 0, running: 0 };
  private readonly abort = new AbortController();
  /** Resolves once, when the worker stops (one listener, however many jobs wait on it). */
  private readonly stopped = new Promise<void>((r) => this.abort.signal.addEventListener("abort", () => r(), { once: true }));
  private loop?: Promise<void>;
  private slots!: SlotPool;
  private store!: JobStore;

  constructor(private readonly opts: JobWorkerOptions) {}

  async start(): Promise<void> {
    this.store = await JobStore.open(this.opts.nc, this.opts.self);
    this.slots = new SlotPool(this.opts.concurrency ?? 1);
    // Jobs live on the hub (leaf mode: through its domain, a consumer across the link; a job that
    // comes again after a cut finds its record and is not run twice).
    const jsm = await hubJetStreamManager(this.opts.nc);
    const js = hubJetStream(this.opts.nc);
    const names: string[] = [];
    for (const queue of this.opts.queues ?? ["default"]) {
      for (const needs of eligibleNeeds(this.opts.capabilities)) {
        try {
          await ensureJobConsumer(jsm, queue, needs, this.opts.ackWaitMs);
        } catch (err) {
          // A secure mesh serves only what the admin granted (add-identity --capabilities --queues).
          if (!permissionDenied(err)) throw err;
          this.opts.log.warn({ queue, needs, err: firstLine(err) }, "not granted to run these jobs (mesh broker add-identity --capabilities/--queues); skipping them");
          continue;
        }
        names.push(jobConsumerName(queue, jobNeedsToken(needs)));
      }
    }
    // One pull loop per eligible consumer, sharing the worker's slots; most specific first, so a
    // gpu worker takes gpu jobs before generic ones.
    this.loop = Promise.all(
      names.reverse().map((consumer) =>
        consumeDurable({
          nc: this.opts.nc,
          js,
          stream: STREAMS.jobs,
          consumer,
          signal: this.abort.signal,
          log: this.opts.log,
          label: `jobs ${consumer}`,
          slots: this.slots,
          onMessage: (m) => this.slots.run(this.handle(m)),
        }),
      ),
    ).then(() => undefined);
  }

  private async handle(m: JsMsg): Promise<void> {
    const { log, self } = this.opts;
    let env: Envelope;
    let body: JobBody;
    try {
      env = parseEnvelope(m.data);
      const parsed = jobBodySchema.safeParse(env.body);
      if (!parsed.success) throw new Error(`invalid job body: ${zodLine(parsed.error)}`);
      body = parsed.data;
    } catch (err) {
      await deadLetterRefusal(this.opts.nc, self, "jobs", m, { reason: (err as Error).message, stream: STREAMS.jobs, log });
      try {
        m.term();
      } catch {
        /* connection gone: redelivered later */
      }
      return;
    }
    const id = env.id;
    const verdict = this.opts.verifier
      ? await this.opts.verifier.verify(env, { at: storedAt(m.info) })
      : { ok: true as const };
    if (!verdict.ok && verdict.retry) {
      safeNak(m, 5000);
      return;
    }
    if (!verdict.ok) {
      log.warn({ id, from: env.from, reason: verdict.reason }, "job refused");
      await deadLetterRefusal(this.opts.nc, self, "jobs", m, { reason: verdict.reason, stream: STREAMS.jobs, log, env });
      this.opts.events.emit("job.failed", { jobId: id, queue: body.queue, reason: verdict.reason, final: true });
      await m.ackAck().catch(() => undefined);
      return;
    }
    // Before it runs, the job's record by the rules every reader applies: a job never runs twice.
    const attempt = m.info.deliveryCount;
    let rec: JobRecord | undefined;
    try {
      rec = (await this.store.read(id, [env.from])).record;
    } catch (err) {
      log.warn({ id, err: (err as Error).message }, "job records unreadable; offering the job again later");
      safeNak(m, 5000);
      return;
    }
    const refusal = offerRefusal(rec, env, body, m.seq);
    if (refusal === "drop") {
      log.info({ id, state: rec?.state }, "job already finished; dropping the offer");
      await m.ackAck().catch(() => undefined);
      return;
    }
    if (refusal) {
      log.warn({ id, from: env.from, reason: refusal }, "job refused");
      await deadLetterRefusal(this.opts.nc, self, "jobs", m, { reason: refusal, stream: STREAMS.jobs, log, sender: env.from, env });
      await m.ackAck().catch(() => undefined);
      return;
    }
    const claim = { seq: m.seq, delivery: attempt };
    const startedAt = new Date().toISOString();
    const run = (state: RunDraft["state"], extra: Partial<RunDraft> = {}): Promise<unknown> =>
      this.store.writeRun(id, () => ({ kind: "run", id, submittedBy: env.from, worker: self, claim, state, startedAt, ...extra }));
    if (attempt > body.maxAttempts) {
      await this.fail(m, env, body, `gave up after ${body.maxAttempts} attempts`, true, run);
      return;
    }
    this.stats.started++;
    await run("running");
    this.opts.events.emit("job.started", { jobId: id, queue: body.queue, attempt });
    const started = Date.now();
    const keepAlive = setInterval(() => safeWorking(m), (this.opts.ackWaitMs ?? JOB_ACK_WAIT_MS) / 3);
    const cancelled = new AbortController();
    const watchCancel = setInterval(() => {
      // Only its submitter can cancel it: the cancel is in the submitter's own bucket.
      void this.store
        .cancelled(env.from, id)
        .then((yes) => yes && cancelled.abort())
        .catch(() => undefined);
    }, 1000);
    let ticket: ReplyTicket | undefined;
    let checkout: Checkout | undefined;
    try {
      if (body.repo && body.at) {
        try {
          checkout = await checkoutForJob({ repos: this.opts.repos ?? [], root: this.opts.worktreeRoot ?? "worktrees", jobId: id, pin: body.repo, sha: body.at });
        } catch (err) {
          if (!(err instanceof CheckoutError)) throw err;
          // A commit the remote does not have will not appear on a retry: the job fails now, with the reason.
          await this.fail(m, env, body, err.message, err.final || attempt >= body.maxAttempts, run);
          return;
        }
        log.info({ id, repo: checkout.repo, sha: checkout.sha, dir: checkout.dir }, "job checked out");
      }
      const posted = await this.startUntilAccepted(m, {
        id,
        from: env.from,
        queue: body.queue,
        task: body.task,
        attempt,
        ...(checkout ? { checkout: { repo: checkout.repo, sha: checkout.sha, dir: checkout.dir } } : {}),
      });
      if (!posted.ok) throw new Error(posted.reason);
      if (!this.opts.agent.awaitReply || !posted.ticket) throw new Error("this worker cannot read replies (no gateway token configured)");
      ticket = posted.ticket;
      const reply = await Promise.race([
        this.opts.agent.awaitReply(posted.ticket, body.timeoutMs),
        new Promise<{ status: "cancelled" }>((resolve) => cancelled.signal.addEventListener("abort", () => resolve({ status: "cancelled" }))),
        this.stopped.then(() => {
          throw new Error("worker stopping");
        }),
      ]);
      if (reply.status === "cancelled") {
        // Stop the gateway's turn where the bridge can, and record what really happened.
        const stop = this.opts.agent.cancel
          ? await this.opts.agent.cancel(ticket).catch((err: Error) => ({ stopped: false, detail: `stopping the turn failed: ${err.message}` }))
          : { stopped: false, detail: "this bridge cannot stop a running turn; it runs to its end" };
        log.info({ id, stopped: stop.stopped, detail: stop.detail }, "job cancelled while running");
        const error = `cancelled while running: ${stop.stopped ? "" : "the turn was not stopped: "}${stop.detail}`;
        await run("cancelled", { finishedAt: new Date().toISOString(), error });
        await m.ackAck().catch(() => undefined);
        return;
      }
      if (reply.status !== "ok") throw new Error(reply.error ?? `run ${reply.status}`);
      await this.recordOutcome(m, id, () => run("done", { result: cut(reply.text ?? ""), finishedAt: new Date().toISOString() }));
      await m.ackAck().catch((err: Error) => log.warn({ id, err: err.message }, "job ack not confirmed"));
      this.stats.completed++;
      this.opts.events.emit("job.completed", { jobId: id, queue: body.queue, latencyMs: Date.now() - started });
    } catch (err) {
      if (this.abort.signal.aborted) {
        // Shutting down: hand it back at once rather than after the ack wait.
        safeNak(m);
        return;
      }
      await this.fail(m, env, body, (err as Error).message, attempt >= body.maxAttempts, run);
    } finally {
      clearInterval(keepAlive);
      clearInterval(watchCancel);
      await checkout?.remove().catch((err: Error) => log.warn({ id, err: err.message }, "job worktree not removed"));
    }
  }

  /**
   * Writes a finished run's outcome to its record, trying again while the hub cannot be reached (a
   * leaf link cut, a broker restart) for up to {@link OUTCOME_RETRY_MS}: the turn ran, and a job
   * offered again whose record still says running would run twice. The claim is kept alive
   * meanwhile (once the hub is back, the copy it offers again finds the outcome and is dropped).
   */
  private async recordOutcome(m: JsMsg, id: string, write: () => Promise<unknown>): Promise<void> {
    const until = Date.now() + OUTCOME_RETRY_MS;
    for (let i = 1; ; i++) {
      try {
        await write();
        return;
      } catch (err) {
        if (this.abort.signal.aborted || Date.now() > until) throw err;
        if (i === 1) this.opts.log.warn({ id, err: firstLine(err) }, "job outcome not recorded yet (the hub cannot be reached?); trying again");
        safeWorking(m);
        await sleep(backoffDelay(i, RESUME_BACKOFF), this.abort.signal);
      }
    }
  }

  /** Starts the job's turn, retrying while the gateway is unreachable (the claim stays alive meanwhile). */
  private async startUntilAccepted(m: JsMsg, j: JobTurn): Promise<DeliveryResult> {
    for (let i = 1; ; i++) {
      const r = await this.opts.agent.runJob(j, { timeoutMs: 60_000, signal: this.abort.signal });
      if (r.ok || !r.retryable || this.abort.signal.aborted) return r;
      safeWorking(m);
      if (!(await sleep(backoffDelay(i, DEFAULT_BACKOFF), this.abort.signal))) return r;
    }
  }

  private async fail(m: JsMsg, env: Envelope, body: JobBody, reason: string, final: boolean, run: (state: RunDraft["state"], extra?: Partial<RunDraft>) => Promise<unknown>): Promise<void> {
    this.stats.failed++;
    this.opts.log.warn({ id: env.id, reason, final }, "job failed");
    this.opts.events.emit("job.failed", { jobId: env.id, queue: body.queue, reason, final });
    if (!final) {
      await run("retrying", { error: reason });
      safeNak(m, 2000);
      return;
    }
    await run("failed", { error: reason, finishedAt: new Date().toISOString() });
    await deadLetterRefusal(this.opts.nc, this.opts.self, "jobs", m, { reason, stream: STREAMS.jobs, log: this.opts.log, sender: env.from, env });
    await m.ackAck().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    // A pull in flight ends by itself within its 5 s expiry; do not wait for it (anything it
    // still brings is handed back with a nak).
    await Promise.race([this.loop, sleep(200)]);
    // Running jobs are left unacked: the broker hands them out again after the ack wait.
  }
}
