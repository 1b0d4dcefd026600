import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type Consumer, type JsMsg } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { STREAMS } from "../../broker/definitions.js";
import {
  jobBodySchema,
  jobConsumerName,
  jobSubject,
  jobNeedsToken,
  parseEnvelope,
  zodLine,
  type Envelope,
  type JobBody,
} from "../../subjects/mod.js";
import { backoffDelay, sleep } from "../backoff.js";
import type { Logger } from "../log.js";
import { deadLetter } from "../sidecar/dead-letter.js";
import type { EventPublisher } from "../sidecar/events.js";
import { jobMarker, type GatewayPort } from "../sidecar/types.js";
import { JobStore } from "./store.js";
import { safeNak, safeWorking } from "../sidecar/acks.js";

export const JOB_ACK_WAIT_MS = 30_000;

/** Every non-empty and empty subset of the capabilities (a worker serves jobs needing any of them). */
export function eligibleNeeds(capabilities: string[]): string[][] {
  const caps = [...new Set(capabilities)].sort().slice(0, 6);
  const out: string[][] = [];
  for (let mask = 0; mask < 1 << caps.length; mask++) out.push(caps.filter((_, i) => mask & (1 << i)));
  return out;
}

export interface JobWorkerOptions {
  nc: NatsConnection;
  self: string;
  gateway: GatewayPort;
  events: EventPublisher;
  log: Logger;
  capabilities: string[];
  queues?: string[];
  concurrency?: number;
  /** Ack wait of the job consumers this worker creates (default 30 s; in-progress acks extend it). */
  ackWaitMs?: number;
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
export class JobWorker {
  readonly stats: JobStats = { started: 0, completed: 0, failed: 0, running: 0 };
  private readonly abort = new AbortController();
  /** Resolves once, when the worker stops (one listener, however many jobs wait on it). */
  private readonly stopped = new Promise<void>((r) => this.abort.signal.addEventListener("abort", () => r(), { once: true }));
  private loop?: Promise<void>;
  private readonly running = new Set<Promise<void>>();
  private store!: JobStore;

  constructor(private readonly o: JobWorkerOptions) {}

  async start(): Promise<void> {
    this.store = await JobStore.open(this.o.nc);
    const consumers = await this.ensureConsumers();
    this.loop = this.run(consumers);
  }

  private async ensureConsumers(): Promise<Consumer[]> {
    const jsm = await jetstreamManager(this.o.nc);
    const js = jetstream(this.o.nc);
    const out: Consumer[] = [];
    for (const queue of this.o.queues ?? ["default"]) {
      for (const needs of eligibleNeeds(this.o.capabilities)) {
        const name = jobConsumerName(queue, jobNeedsToken(needs));
        try {
          await jsm.consumers.info(STREAMS.jobs, name);
        } catch {
          try {
            await jsm.consumers.add(STREAMS.jobs, {
              durable_name: name,
              filter_subject: jobSubject(queue, needs),
              ack_policy: AckPolicy.Explicit,
              deliver_policy: DeliverPolicy.All,
              ack_wait: nanos(this.o.ackWaitMs ?? JOB_ACK_WAIT_MS),
              max_deliver: -1,
            });
          } catch (err) {
            // Another worker may have created it at the same moment.
            if (!/already in use|exists/i.test((err as Error).message)) throw err;
          }
        }
        out.push(await js.consumers.get(STREAMS.jobs, name));
      }
    }
    // Most specific first: a gpu worker takes gpu jobs before generic ones.
    return out.reverse();
  }

  private get free(): number {
    return (this.o.concurrency ?? 1) - this.running.size;
  }

  /** Resolves when a slot is free (immediately if one is). */
  private async slot(): Promise<void> {
    while (this.free <= 0 && !this.abort.signal.aborted) await Promise.race([...this.running, this.stopped]);
  }

  /** One pull loop per eligible consumer; each pulls only while this worker has a free slot. */
  private async run(consumers: Consumer[]): Promise<void> {
    await Promise.all(consumers.map((c) => this.pull(c)));
  }

  private async pull(c: Consumer): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      await this.slot();
      if (signal.aborted) break;
      try {
        const m = await c.next({ expires: 5000 });
        failures = 0;
        if (!m) continue;
        if (this.free <= 0 || signal.aborted) {
          // Another loop filled the last slot meanwhile: give it straight back to the queue.
          safeNak(m);
          continue;
        }
        const p = this.handle(m).finally(() => this.running.delete(p));
        this.running.add(p);
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        this.o.log.warn({ err: (err as Error).message }, "job pull failed");
        await sleep(backoffDelay(failures, { initialMs: 500, maxMs: 10_000, factor: 2 }), signal);
      }
    }
  }

  private async handle(m: JsMsg): Promise<void> {
    const { log, self } = this.o;
    let env: Envelope;
    let body: JobBody;
    try {
      env = parseEnvelope(m.data);
      const parsed = jobBodySchema.safeParse(env.body);
      if (!parsed.success) throw new Error(`invalid job body: ${zodLine(parsed.error)}`);
      body = parsed.data;
    } catch (err) {
      await deadLetter(this.o.nc, self, "jobs", { reason: (err as Error).message, subject: m.subject, stream: STREAMS.jobs, seq: m.seq, original: m.data }).catch(() => undefined);
      try {
        m.term();
      } catch {
        /* connection gone: redelivered later */
      }
      return;
    }
    const id = env.id;
    const attempt = m.info.deliveryCount;
    const cur = await this.store.get(id);
    if (cur && (cur.record.state === "cancelled" || cur.record.state === "done")) {
      log.info({ id, state: cur.record.state }, "job already finished; dropping the offer");
      await m.ackAck().catch(() => undefined);
      return;
    }
    if (attempt > body.maxAttempts) {
      await this.fail(m, env, body, `gave up after ${body.maxAttempts} attempts`, true);
      return;
    }
    this.stats.started++;
    await this.store.update(id, (r) => ({ ...r, state: "running", worker: self, attempts: attempt, startedAt: new Date().toISOString() }));
    this.o.events.emit("job.started", { jobId: id, queue: body.queue, attempt });
    const started = Date.now();
    const keepAlive = setInterval(() => safeWorking(m), (this.o.ackWaitMs ?? JOB_ACK_WAIT_MS) / 3);
    const cancelled = new AbortController();
    const watchCancel = setInterval(() => {
      void this.store
        .get(id)
        .then((r) => {
          if (r?.record.cancelRequested) cancelled.abort();
        })
        .catch(() => undefined);
    }, 1000);
    try {
      const sessionKey = `mesh:job-${id}`;
      const marker = jobMarker(id);
      const posted = await this.postUntilAccepted(m, {
        message: `[mesh] job ${marker} from ${env.from} (queue ${body.queue}). Do the task; your final reply is the job's result.\n\n${body.task}`,
        name: `mesh:job`,
        sessionKey,
        sessionMode: "persistent",
        deliver: false,
        idempotencyKey: `mesh-job-${id}-${attempt}`,
      });
      if (!posted.ok) throw new Error(posted.reason);
      if (!this.o.gateway.waitForReply) throw new Error("this worker cannot read replies (no gateway token configured)");
      const reply = await Promise.race([
        this.o.gateway.waitForReply({ sessionKey, marker, timeoutMs: body.timeoutMs }),
        new Promise<{ status: "cancelled" }>((resolve) => cancelled.signal.addEventListener("abort", () => resolve({ status: "cancelled" }))),
        this.stopped.then(() => {
          throw new Error("worker stopping");
        }),
      ]);
      if (reply.status === "cancelled") {
        await this.store.update(id, (r) => ({ ...r, state: "cancelled", finishedAt: new Date().toISOString(), error: "cancelled while running" }));
        await m.ackAck().catch(() => undefined);
        return;
      }
      if (reply.status !== "ok") throw new Error(reply.error ?? `run ${reply.status}`);
      await this.store.update(id, (r) => ({ ...r, state: "done", result: reply.text ?? "", finishedAt: new Date().toISOString() }));
      await m.ackAck().catch((err: Error) => log.warn({ id, err: err.message }, "job ack not confirmed"));
      this.stats.completed++;
      this.o.events.emit("job.completed", { jobId: id, queue: body.queue, latencyMs: Date.now() - started });
    } catch (err) {
      if (this.abort.signal.aborted) {
        // Shutting down: hand it back at once rather than after the ack wait.
        safeNak(m);
        return;
      }
      await this.fail(m, env, body, (err as Error).message, attempt >= body.maxAttempts);
    } finally {
      clearInterval(keepAlive);
      clearInterval(watchCancel);
    }
  }

  /** Hooks POST with retries while the gateway is unreachable (the claim stays alive meanwhile). */
  private async postUntilAccepted(m: JsMsg, req: Parameters<GatewayPort["startTurn"]>[0]) {
    for (let i = 1; ; i++) {
      const r = await this.o.gateway.startTurn(req, { timeoutMs: 60_000, signal: this.abort.signal });
      if (r.ok || !r.retryable || this.abort.signal.aborted) return r;
      safeWorking(m);
      if (!(await sleep(backoffDelay(i), this.abort.signal))) return r;
    }
  }

  private async fail(m: JsMsg, env: Envelope, body: JobBody, reason: string, final: boolean): Promise<void> {
    this.stats.failed++;
    this.o.log.warn({ id: env.id, reason, final }, "job failed");
    this.o.events.emit("job.failed", { jobId: env.id, queue: body.queue, reason, final });
    if (!final) {
      await this.store.update(env.id, (r) => ({ ...r, state: "queued", error: reason }));
      safeNak(m, 2000);
      return;
    }
    await this.store.update(env.id, (r) => ({ ...r, state: "failed", error: reason, finishedAt: new Date().toISOString() }));
    await deadLetter(this.o.nc, this.o.self, "jobs", { reason, subject: m.subject, stream: STREAMS.jobs, seq: m.seq, original: m.data, originalId: env.id, from: env.from }).catch(() => undefined);
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
