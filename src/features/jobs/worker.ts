import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { JOB_ACK_WAIT_MS } from "../../../broker/definitions.js";
import { ensureJobConsumer } from "../../../broker/provision.js";
import { hubJetStream, hubJetStreamManager } from "../../bus/domain.js";
import { STREAMS, jobConsumerName } from "../../../subjects/names.js";
import { jobBodySchema, jobNeedsToken, zodLine, type Envelope, type JobBody } from "../../../subjects/mod.js";
import { RESUME_BACKOFF, sleep } from "../../base/backoff.js";
import { firstLine, permissionDenied } from "../../base/nats-errors.js";
import type { MeshVerifier } from "../../bus/verify.js";
import type { JobRecord } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import { safeNak, safeWorking } from "../../bus/acks.js";
import { receive, refuse, retryHolding, waitForVerification } from "../../bus/received.js";
import { SlotPool, consumeDurable } from "../../bus/consume.js";
import type { EventPublisher } from "../../bus/events.js";
import type { AgentPort, DeliveryResult, JobTurn, ReplyTicket } from "../../agent/port.js";
import { JobStore, type RunDraft } from "./store.js";
import { cut, eligibleNeeds, offerRefusal } from "./offer.js";
import { openTask, sealResult } from "./sealing.js";
import { CheckoutError, checkoutForJob, type Checkout } from "../repos/checkout.js";
import type { RepoConfig } from "../repos/config.js";

/*
 * About 350 lines, one class on purpose: a job's run (its claim, keep-alive, cancel watch, checkout,
 * reply wait and outcome) shares one state across its steps. What is not the run lives elsewhere:
 * the received-message pipeline in bus/received.ts, what an offer is refused for in offer.ts, the
 * records in store.ts, sealed tasks and results in sealing.ts.
 */

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
          onMessage: (m) => this.slots.run(this.handleSafely(m)),
        }),
      ),
    ).then(() => undefined);
  }

  /**
   * A job whose handling throws (its record cannot be written: the worker's job records are full,
   * the hub went away) goes back to the queue after a pause, and the worker keeps running.
   */
  private async handleSafely(m: JsMsg): Promise<void> {
    try {
      await this.handle(m);
    } catch (err) {
      this.opts.log.error({ seq: m.seq, err: firstLine(err) }, "job not handled; it goes back to the queue");
      safeNak(m, 5000);
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    const { log, self } = this.opts;
    const verifier = this.opts.verifier;
    let checked: JobBody | undefined;
    const r = await receive(m, {
      checks: (env) => {
        const parsed = jobBodySchema.safeParse(env.body);
        if (!parsed.success) return `invalid job body: ${zodLine(parsed.error)}`;
        checked = parsed.data;
        return undefined;
      },
      ...(verifier ? { verify: (env, check) => verifier.verify(env, check) } : {}),
    });
    if (!r.ok) {
      if (r.wait) {
        waitForVerification(m, log, r.reason, { id: r.env.id });
        return;
      }
      const { env: refused, reason } = r;
      const queue = checked?.queue;
      log.warn({ id: refused?.id, from: refused?.from, reason }, "job refused");
      // Its sender is not proven: the dead letter goes in the "unknown" share.
      await this.refuseJob(m, reason, { env: refused }, () => {
        if (refused && queue) this.opts.events.emit("job.failed", { jobId: refused.id, queue, reason, final: true });
      });
      return;
    }
    const env = r.env;
    const body = jobBodySchema.parse(env.body); // passed the checks above; parsed again for its type
    const id = env.id;
    const attempt = m.info.deliveryCount;
    // A sealed task (sealing.ts) is opened with this identity's keys.
    const opened = openTask(this.opts.nc, id, body);
    // Before it runs, the job's record by the rules every reader applies: a job never runs twice.
    let rec: JobRecord | undefined;
    try {
      rec = (await this.store.read(id, [env.from])).record;
    } catch (err) {
      log.warn({ id, err: (err as Error).message }, "job records unreadable; offering the job again later");
      safeNak(m, 5000);
      return;
    }
    // A task this worker cannot open is compared as the record shows it here (sealed too).
    const refusal = offerRefusal(rec, env, { ...body, task: opened.ok ? opened.task : (rec?.task ?? "") }, m.seq);
    if (refusal === "drop") {
      log.info({ id, state: rec?.state }, "job already finished; dropping the offer");
      await m.ackAck().catch(() => undefined);
      return;
    }
    if (refusal) {
      log.warn({ id, from: env.from, reason: refusal }, "job refused");
      await this.refuseJob(m, refusal, { env, sender: env.from });
      return;
    }
    const claim = { seq: m.seq, delivery: attempt };
    const startedAt = new Date().toISOString();
    const run = (state: RunDraft["state"], extra: Partial<RunDraft> = {}): Promise<unknown> =>
      this.store.writeRun(id, () => ({ kind: "run", id, submittedBy: env.from, worker: self, claim, state, startedAt, ...extra }));
    if (!opened.ok) {
      // Not sealed for this worker: left to one it was sealed for, and failed here at the last attempt.
      const reason = `its sealed task cannot be opened here: ${opened.reason}`;
      if (attempt < body.maxAttempts) {
        log.warn({ id, from: env.from, reason }, "job left for a worker that can read it");
        safeNak(m, 2000);
      } else await this.fail(m, env, body, reason, true, run);
      return;
    }
    const task = opened.task;
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
        task,
        attempt,
        ...(checkout ? { checkout: { repo: checkout.repo, sha: checkout.sha, dir: checkout.dir } } : {}),
      });
      if (!posted) return;
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
      // Sealed for the submitter and this worker when the task came sealed.
      const result = await sealResult(this.opts.nc, id, env.from, cut(reply.text ?? ""), body.sealedTask !== undefined);
      await this.recordOutcome(m, id, () => run("done", { ...result, finishedAt: new Date().toISOString() }));
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
    let failure: unknown;
    const tried = await retryHolding(
      m,
      async (n) => {
        try {
          await write();
          return { ok: true as const };
        } catch (err) {
          failure = err;
          if (n === 1) this.opts.log.warn({ id, err: firstLine(err) }, "job outcome not recorded yet (the hub cannot be reached?); trying again");
          return { ok: false as const, retryable: Date.now() <= until, reason: firstLine(err) };
        }
      },
      { signal: this.abort.signal, backoff: RESUME_BACKOFF },
    );
    if (!tried?.result.ok) throw failure;
  }

  /**
   * Starts the job's turn, retrying while the gateway is unreachable or busy (the claim stays alive
   * meanwhile, and a gateway that listens again is tried at once); undefined: stopping (handed back).
   */
  private async startUntilAccepted(m: JsMsg, j: JobTurn): Promise<DeliveryResult | undefined> {
    const tried = await retryHolding(m, () => this.opts.agent.runJob(j, { timeoutMs: 60_000, signal: this.abort.signal }), {
      signal: this.abort.signal,
      reachable: this.opts.agent.url,
    });
    return tried?.result;
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
    await this.refuseJob(m, reason, { env, sender: env.from });
  }

  /** Dead-letters a job with its reason and acks it (refuse(): left for redelivery when the evidence was not stored). */
  private async refuseJob(m: JsMsg, reason: string, o: { env?: Envelope | undefined; sender?: string }, settled?: () => void): Promise<void> {
    await refuse(m, {
      nc: this.opts.nc,
      self: this.opts.self,
      source: "jobs",
      stream: STREAMS.jobs,
      log: this.opts.log,
      reason,
      ...o,
      ack: async (m) => {
        settled?.();
        await m.ackAck().catch(() => undefined);
      },
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    // A pull in flight ends by itself within its 5 s expiry; do not wait for it (anything it
    // still brings is handed back with a nak).
    await Promise.race([this.loop, sleep(200)]);
    // Running jobs are left unacked: the broker hands them out again after the ack wait.
  }
}
