import type { JsMsg } from "@nats-io/jetstream";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ensureHookConsumer } from "../../../broker/provision.js";
import { hookConsumerName, hooksStreamName } from "../../../subjects/names.js";
import { isAutomationSession, parseEnvelope, type Envelope } from "../../../subjects/mod.js";
import { backoffDelay, sleep, type BackoffPolicy } from "../../base/backoff.js";
import type { Logger } from "../../base/log.js";
import { consumeDurable } from "../../bus/consume.js";
import { safeNak, safeWorking } from "../../bus/acks.js";
import { deadLetter } from "../../bus/dead-letter.js";
import type { AgentPort } from "../../agent/port.js";
import { runAction, templateContext } from "./actions.js";
import { matches, type HookRule } from "./rules.js";

export interface RuleStats {
  fired: number;
  skipped: number;
  retried: number;
  deadLettered: number;
}

/** True for events this sidecar caused by running a hook action (firing on them would loop). */
function causedByHook(env: Envelope, self: string): boolean {
  if (env.from !== self || !env.type?.startsWith("gateway.run.")) return false;
  const key = (env.body as { sessionKey?: unknown } | undefined)?.sessionKey;
  return typeof key === "string" && isAutomationSession(key);
}

/**
 * One durable consumer per rule on the EVENTS stream (`hook-<identity>-<rule>`): a sidecar that was
 * down resumes where it stopped, within the stream's retention. New rules start at "now". Failed
 * actions retry with backoff; after maxAttempts (or a 4xx) the event is dead-lettered for that rule.
 */
export class HookRunner {
  readonly stats = new Map<string, RuleStats>();
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];

  constructor(
    private readonly o: {
      nc: NatsConnection;
      self: string;
      rules: HookRule[];
      agent: AgentPort;
      log: Logger;
      backoff?: BackoffPolicy;
    },
  ) {}

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.o.nc);
    for (const rule of this.o.rules) {
      const change = await ensureHookConsumer(jsm, this.o.self, rule.name, rule.on);
      if (change !== "unchanged") this.o.log.info({ rule: rule.name, on: rule.on }, "hook rule starts from now");
      this.stats.set(rule.name, { fired: 0, skipped: 0, retried: 0, deadLettered: 0 });
      this.loops.push(this.run(rule, hookConsumerName(this.o.self, rule.name)));
    }
  }

  private run(rule: HookRule, consumerName: string): Promise<void> {
    return consumeDurable({
      nc: this.o.nc,
      stream: hooksStreamName(this.o.self),
      consumer: consumerName,
      maxMessages: 4,
      signal: this.abort.signal,
      log: this.o.log,
      label: `hook ${rule.name}`,
      onMessage: (m) => this.handle(rule, m),
    });
  }

  private async handle(rule: HookRule, m: JsMsg): Promise<void> {
    const stats = this.stats.get(rule.name)!;
    let env: Envelope;
    try {
      env = parseEnvelope(m.data);
    } catch (err) {
      stats.skipped++;
      this.o.log.warn({ rule: rule.name, seq: m.seq, err: (err as Error).message }, "not an envelope; skipped");
      await m.ackAck().catch(() => undefined);
      return;
    }
    if (causedByHook(env, this.o.self) || !matches(rule, templateContext(env, m.subject))) {
      stats.skipped++;
      await m.ackAck().catch(() => undefined);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      const res = await runAction(rule.action, env, m.subject, { agent: this.o.agent, ruleName: rule.name });
      if (res.ok) {
        stats.fired++;
        this.o.log.info({ rule: rule.name, event: env.id, type: env.type }, "hook fired");
        await m.ackAck().catch(() => undefined);
        return;
      }
      if (!res.retryable || attempt >= rule.maxAttempts) {
        stats.deadLettered++;
        const reason = `rule ${rule.name}: ${res.reason}${res.retryable ? ` (gave up after ${attempt} attempts)` : ""}`;
        this.o.log.error({ rule: rule.name, event: env.id, reason }, "hook action dead-lettered");
        await deadLetter(this.o.nc, this.o.self, "hooks", {
          reason,
          subject: m.subject,
          stream: hooksStreamName(this.o.self),
          seq: m.seq,
          original: m.data,
          originalId: env.id,
          from: env.from,
        }).catch((err: Error) => this.o.log.error({ err: err.message }, "could not store the dead letter"));
        await m.ackAck().catch(() => undefined);
        return;
      }
      stats.retried++;
      safeWorking(m);
      if (!(await sleep(backoffDelay(attempt, this.o.backoff), this.abort.signal))) {
        safeNak(m);
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
  }
}
