import { openSealed } from "../../bus/sealer.js";
import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { inboxConsumerName, inboxStreamName } from "../../../subjects/names.js";
import { INBOX_MAX_IN_FLIGHT } from "../../../broker/definitions.js";
import { bodyText, parseEnvelope, senderOf, type Envelope } from "../../../subjects/mod.js";
import type { Check, Verdict } from "../../bus/verify.js";
import { sleep, type BackoffPolicy } from "../../base/backoff.js";
import type { Logger } from "../../base/log.js";
import { consumeDurable } from "../../bus/consume.js";
import { InboxCleanup } from "./cleanup.js";
import { receive, refuse, retryHolding, waitForVerification, type Reception } from "../../bus/received.js";
import { safeNak, safeWorking } from "../../bus/acks.js";
import type { DeliveredJournal } from "./delivered-journal.js";
import type { EventPublisher } from "../../bus/events.js";
import type { AgentPort, DeliveryResult, PeerMessage, ReplyTicket } from "../../agent/port.js";

export interface InboxOptions {
  nc: NatsConnection;
  self: string;
  agent: AgentPort;
  journal: DeliveredJournal;
  events: EventPublisher;
  log: Logger;
  backoff?: BackoffPolicy;
  /** Called when a message is taken from the broker and its sender verified, before it waits for its lane (e.g. an answer someone waits for). */
  onArrived?: (env: Envelope) => void;
  /** Called once the gateway accepted a message or ask (answers are handled from there). */
  onAccepted?: (env: Envelope, runId: string | undefined, ticket: ReplyTicket | undefined) => void;
  onGatewayState?: (up: boolean, reason?: string) => void;
  /** Secure mesh: checks the sender's signature; a failed check is dead-lettered, never delivered. */
  verify?: (env: Envelope, check: Check) => Promise<Verdict>;
  /** Ids this sidecar dead-lettered: the same id again is a replay and is refused. */
  deadLettered?: DeliveredJournal;
  /** Per-POST timeout. */
  hookTimeoutMs?: number;
  /** Leaf mode: this Mac (what it is done with is removed upstream too: its outbox, the hub's inbox). */
  leaf?: { mac: string };
  /** In-progress ack interval while holding a message (a third of the ack wait). */
  workingEveryMs?: number;
}

export interface InboxStats {
  delivered: number;
  retried: number;
  deadLettered: number;
  /** Refused messages whose dead letter the broker did not keep (the sender's share was full). */
  deadLettersNotKept: number;
  duplicatesSkipped: number;
}

/**
 * Consumes every lane of <self>'s inbox (agent.<self>.inbox.<from>) through its durable consumer and hands each message to the gateway.
 * Nothing lost: ack only after the gateway accepted it; retryable failures (unreachable, 5xx, 429)
 * keep the message and retry with backoff, in order. Nothing doubled: the id is journaled before
 * the ack, and a redelivered id that is already journaled is acked without a second POST.
 * Bad input and 4xx that retrying cannot fix go to the DLQ with the reason; the loop keeps going.
 */
export class InboxConsumer {
  readonly stats: InboxStats = { delivered: 0, retried: 0, deadLettered: 0, deadLettersNotKept: 0, duplicatesSkipped: 0 };
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  /** One promise chain per sender: a sender's messages go one at a time, in order; senders in parallel. */
  private readonly lanes = new Map<string, Promise<void>>();
  /** Acks waiting for the delivered-journal's fsync. */
  private readonly acking = new Set<Promise<void>>();
  /** Messages taken from the broker and not yet acked: their claim is kept alive. */
  private readonly held = new Set<JsMsg>();
  private keepAlive?: NodeJS.Timeout;
  /** Removes what this consumer is done with, here and upstream (cleanup.ts). */
  private readonly cleanup: InboxCleanup;

  constructor(private readonly opts: InboxOptions) {
    this.cleanup = new InboxCleanup(opts);
  }

  start(): void {
    this.keepAlive = setInterval(() => this.held.forEach((m) => safeWorking(m)), this.opts.workingEveryMs ?? 10_000);
    this.keepAlive.unref();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await Promise.allSettled([...this.lanes.values()]);
    await Promise.allSettled([...this.acking]);
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.cleanup.close();
  }

  /** Queues the message on its sender's lane; different senders are delivered concurrently. */
  private dispatch(m: JsMsg): void {
    // The lane is the subject's sender (agent.<self>.inbox.<from>, checked by the server on a secure
    // mesh); a message from before lanes goes by the sender it names, an unreadable one on "?".
    let from = senderOf(m.subject) ?? "?";
    let parsed: Envelope | Error;
    try {
      parsed = parseEnvelope(m.data);
      if (from === "?") from = parsed.from;
    } catch (err) {
      parsed = err as Error;
    }
    // Received at once (checked while the message waits for its lane): bound to this inbox (subject
    // and `to`), signed by `from`, and signed when it was stored.
    const { self, verify } = this.opts;
    const reception = receive(m, { parsed, checks: (env) => notForInbox(env, self), ...(verify ? { verify } : {}), check: { to: self, subject: m.subject, subjectNames: "to" } });
    // A sealed body is opened with this identity's keys (what was verified is the envelope as sent).
    const opened = parsed instanceof Error ? undefined : openSealed(this.opts.nc, parsed);
    if (opened?.ok) this.arrived(opened.env, reception);
    this.held.add(m);
    const next = (this.lanes.get(from) ?? Promise.resolve())
      .then(async () => {
        if (this.abort.signal.aborted) safeNak(m);
        else await this.handle(m, reception, opened);
      })
      .catch((err: unknown) => this.opts.log.error({ seq: m.seq, err: (err as Error).message }, "inbox handler failed"))
      .finally(() => {
        this.held.delete(m);
        if (this.lanes.get(from) === next) this.lanes.delete(from);
      });
    this.lanes.set(from, next);
  }

  /**
   * Tells onArrived as soon as a message is taken from the broker (once its sender is verified),
   * not when its turn in the sender's lane comes: an answer someone waits for is known at once.
   */
  private arrived(env: Envelope, reception: Promise<Reception>): void {
    const notify = this.opts.onArrived;
    if (notify) void reception.then((r) => r.ok && notify(env));
  }

  private run(): Promise<void> {
    return consumeDurable({
      nc: this.opts.nc,
      stream: inboxStreamName(this.opts.self),
      consumer: inboxConsumerName(this.opts.self),
      maxMessages: INBOX_MAX_IN_FLIGHT,
      signal: this.abort.signal,
      log: this.opts.log,
      label: "inbox",
      onMessage: (m) => this.dispatch(m),
      // Messages a previous run took and never acked (it crashed) come back only when their ack
      // wait expires; the broker then serves them before newer ones. Pulling earlier would hand
      // over newer messages first and break per-sender order, so wait that long once.
      beforeFirst: async (consumer) => {
        const ci = await consumer.info();
        if (ci.num_ack_pending === 0) return true;
        const waitMs = Math.ceil((ci.config.ack_wait ?? 30e9) / 1e6) + 1000;
        this.opts.log.warn({ unacked: ci.num_ack_pending, waitMs }, "a previous run left messages unacked; waiting for their redelivery to keep order");
        return sleep(waitMs, this.abort.signal);
      },
    });
  }

  private async handle(m: JsMsg, reception: Promise<Reception>, opened?: ReturnType<typeof openSealed>): Promise<void> {
    const { log } = this.opts;
    const r = await reception;
    if (!r.ok) {
      if (r.wait) waitForVerification(m, log, r.reason, { id: r.env.id });
      else await this.reject(m, r.reason, r.env);
      return;
    }
    const env = r.env;
    if (opened && !opened.ok) {
      // Kept as it came (sealed) in the dead letters, readable only by its readers.
      await this.reject(m, `its sealed body cannot be opened here: ${opened.reason}`, env);
      return;
    }
    if (this.opts.deadLettered?.has(env.id)) {
      await this.reject(m, `replay of ${env.id}, which this inbox already dead-lettered`, env);
      return;
    }
    if (this.opts.journal.has(env.id)) {
      this.stats.duplicatesSkipped++;
      log.info({ id: env.id, seq: m.seq }, "already delivered to the gateway; acking without a second delivery");
      this.ackWhenSynced(m, env.id, this.opts.journal.record(env.id));
      return;
    }
    const started = Date.now();
    // (notForInbox let only messages and asks through.)
    const msg: PeerMessage = { id: env.id, from: env.from, kind: env.kind === "ask" ? "ask" : "message", text: bodyText(opened?.ok ? opened.env : env), ...(env.context ? { context: env.context } : {}) };
    const tried = await retryHolding(m, () => this.post(m, msg), {
      signal: this.abort.signal,
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
      reachable: this.opts.agent.url,
      onRetry: (res, attempt, delay) => {
        if (res.status === 0) this.opts.onGatewayState?.(false, res.reason);
        this.stats.retried++;
        if (attempt === 1 || attempt % 10 === 0) {
          this.opts.events.emit("message.retried", { id: env.id, from: env.from, seq: m.seq, attempt, reason: res.reason, nextDelayMs: delay });
          log.warn({ id: env.id, seq: m.seq, attempt, reason: res.reason }, "gateway not accepting; will retry");
        }
      },
    });
    if (!tried) return;
    const { result: res, attempts } = tried;
    if (!res.ok) {
      await this.reject(m, `gateway refused it: ${res.reason}`, env);
      return;
    }
    this.opts.onGatewayState?.(true);
    let synced: Promise<void>;
    try {
      // Written now (a crash of this process from here on keeps it); the ack waits for the fsync,
      // the sender's next message does not (group commit across lanes and messages).
      synced = this.opts.journal.record(env.id);
    } catch (err) {
      // Delivered but not journaled: do not ack; a redelivery would repeat it, so say so loudly.
      log.error({ id: env.id, err: (err as Error).message }, "could not journal a delivered message; leaving it unacked");
      return;
    }
    this.ackWhenSynced(m, env.id, synced);
    this.stats.delivered++;
    this.opts.events.emit("message.delivered", {
      id: env.id,
      from: env.from,
      seq: m.seq,
      ...(res.runId ? { runId: res.runId } : {}),
      attempts,
      latencyMs: Date.now() - started,
    });
    log.debug({ id: env.id, from: env.from, seq: m.seq, runId: res.runId }, "delivered");
    this.opts.onAccepted?.(opened?.ok ? opened.env : env, res.runId, res.ticket);
  }

  /** Acks once the id is on disk (an fsync takes milliseconds; the ack wait is 30 s). */
  private ackWhenSynced(m: JsMsg, id: string, synced: Promise<void>): void {
    const acking = synced.then(
      () => this.ack(m),
      (err: unknown) => this.opts.log.error({ id, err: (err as Error).message }, "could not fsync the delivered-journal; leaving the message unacked (a redelivery finds its id written)"),
    );
    this.acking.add(acking);
    void acking.finally(() => this.acking.delete(acking));
  }

  /** POSTs while keeping the broker's claim on the message alive (slow gateways). */
  private async post(m: JsMsg, msg: PeerMessage): Promise<DeliveryResult> {
    const keepAlive = setInterval(() => safeWorking(m), this.opts.workingEveryMs ?? 10_000);
    try {
      return await this.opts.agent.deliver(msg, {
        timeoutMs: this.opts.hookTimeoutMs ?? 120_000,
        signal: this.abort.signal,
        // The gateway has it, its turn runs: said before the adapter's wait for the turn's end.
        onTaken: () => this.opts.events.emit("message.accepted", { id: msg.id, from: msg.from, seq: m.seq }),
      });
    } finally {
      clearInterval(keepAlive);
    }
  }

  /**
   * Fire-and-forget ack: the id is already in the journal, so a lost ack only means a redelivery
   * that is acked without a second delivery (waiting for the broker's confirmation would cost a
   * round trip per message on the sender's lane). Then the message is removed from the inbox.
   */
  private async ack(m: JsMsg): Promise<void> {
    try {
      m.ack();
    } catch (err) {
      this.opts.log.warn({ seq: m.seq, err: (err as Error).message }, "ack not sent; the broker will redeliver (journaled)");
      return;
    }
    this.cleanup.remove(m);
  }

  /** Dead-letters it (refuse(): left for redelivery when the evidence was not stored), remembers the id, says so, acks. */
  private async reject(m: JsMsg, reason: string, env?: Envelope): Promise<void> {
    this.stats.deadLettered++;
    const { nc, self, log } = this.opts;
    await refuse(m, {
      nc,
      self,
      source: "inbox",
      stream: inboxStreamName(self),
      log,
      reason,
      env,
      sender: senderOf(m.subject),
      ack: async (m, outcome) => {
        if (outcome === "share-full") this.stats.deadLettersNotKept++;
        if (env) await this.opts.deadLettered?.record(env.id).catch(() => undefined);
        this.opts.events.emit("message.dead-lettered", { seq: m.seq, reason, ...(env ? { id: env.id, from: env.from } : {}) });
        await this.ack(m);
      },
    });
  }
}

/** Why an envelope does not belong in <self>'s inbox (addressed elsewhere, or not a message or ask). */
function notForInbox(env: Envelope, self: string): string | undefined {
  if (env.to !== self) return `addressed to ${env.to}, not ${self}`;
  if (env.kind !== "message" && env.kind !== "ask") return `kind ${env.kind} does not belong in an inbox`;
  return undefined;
}
