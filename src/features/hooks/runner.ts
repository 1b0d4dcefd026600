import type { JsMsg } from "@nats-io/jetstream";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ensureHookConsumer } from "../../../broker/provision.js";
import { hookConsumerName, hooksStreamName } from "../../../subjects/names.js";
import { checkEvent, isAutomationSession, ownerOf, type Envelope } from "../../../subjects/mod.js";
import type { BackoffPolicy } from "../../base/backoff.js";
import { MeshError } from "../../base/errors.js";
import { isNotFound, permissionDenied } from "../../base/nats-errors.js";
import type { Logger } from "../../base/log.js";
import { consumeDurable } from "../../bus/consume.js";
import { receive, refuse, retryHolding, waitForVerification } from "../../bus/received.js";
import { MeshVerifier } from "../../bus/verify.js";
import { writeHookStats, type RuleStats } from "./stats-file.js";
import type { AgentPort } from "../../agent/port.js";
import { runAction, templateContext } from "./actions.js";
import type { GitFetcher } from "../repos/fetch.js";
import { matches, senderRefused, takesUnknownKinds, type HookRule } from "./rules.js";

/** What the runner needs of the verifier (src/bus/verify.ts). */
export type EventVerifier = Pick<MeshVerifier, "verify">;

/**
 * The one-line error for hook rules of an identity the admin added with --no-hooks (no HOOKS-<id>
 * stream, and no permission on one): undefined for any other failure.
 */
export function notGrantedHooks(err: unknown, self: string): MeshError | undefined {
  if (!isNotFound(err) && !permissionDenied(err)) return undefined;
  return new MeshError(
    `hook rules need ${hooksStreamName(self)} (this identity's copy of the events), which the broker does not have for ${self}: ` +
      `it was added with --no-hooks. On the broker's machine: mesh identity add ${self} --hooks`,
  );
}

/** True for a rule whose action runs on this sidecar's own gateway (not a webhook elsewhere, not git). */
function actsOnGateway(rule: HookRule): boolean {
  return rule.action.type !== "webhook" && rule.action.type !== "git-fetch";
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
    private readonly opts: {
      nc: NatsConnection;
      self: string;
      rules: HookRule[];
      agent: AgentPort;
      log: Logger;
      backoff?: BackoffPolicy;
      /** The sidecar's verifier; opened here when not given. */
      verifier?: EventVerifier;
      /** Where the counts and the last refusal are kept for `mesh hooks list` (the sidecar's state dir). */
      statsFile?: string;
      /** The git-fetch action's fetcher (config `repos`). */
      git?: GitFetcher;
    },
  ) {}

  private verifier!: EventVerifier;
  private statsTimer: NodeJS.Timeout | undefined;

  async start(): Promise<void> {
    this.verifier = this.opts.verifier ?? (await MeshVerifier.open(this.opts.nc, this.opts.log));
    const jsm = await jetstreamManager(this.opts.nc);
    for (const rule of this.opts.rules) {
      const change = await ensureHookConsumer(jsm, this.opts.self, rule.name, rule.on).catch((err: unknown) => {
        throw notGrantedHooks(err, this.opts.self) ?? err;
      });
      if (change !== "unchanged") this.opts.log.info({ rule: rule.name, on: rule.on }, "hook rule starts from now");
      this.stats.set(rule.name, { fired: 0, skipped: 0, refused: 0, retried: 0, deadLettered: 0 });
      this.loops.push(this.run(rule, hookConsumerName(this.opts.self, rule.name)));
    }
  }

  private run(rule: HookRule, consumerName: string): Promise<void> {
    return consumeDurable({
      nc: this.opts.nc,
      stream: hooksStreamName(this.opts.self),
      consumer: consumerName,
      maxMessages: 4,
      signal: this.abort.signal,
      log: this.opts.log,
      label: `hook ${rule.name}`,
      onMessage: (m) => this.handle(rule, m),
    });
  }

  /** Counts a refusal, logs its reason at warn, and acks: the event never fires this rule. */
  private async refuse(rule: HookRule, m: JsMsg, reason: string, env?: Envelope): Promise<void> {
    const stats = this.stats.get(rule.name)!;
    stats.refused++;
    stats.lastRefusal = reason;
    this.opts.log.warn({ rule: rule.name, seq: m.seq, subject: m.subject, event: env?.id, from: env?.from, reason }, "event refused; the rule does not fire");
    this.statsChanged();
    await m.ackAck().catch(() => undefined);
  }

  private async skip(rule: HookRule, m: JsMsg, reason?: string): Promise<void> {
    this.stats.get(rule.name)!.skipped++;
    if (reason) this.opts.log.info({ rule: rule.name, seq: m.seq, subject: m.subject, reason }, "event skipped");
    this.statsChanged();
    await m.ackAck().catch(() => undefined);
  }

  private async handle(rule: HookRule, m: JsMsg): Promise<void> {
    const stats = this.stats.get(rule.name)!;
    // Verified before anything looks at it: its sender is the identity in its subject, it is signed
    // by that identity's key, and it was signed when it was stored.
    const r = await receive(m, { verify: (env, check) => this.verifier.verify(env, check), check: { subject: m.subject, subjectNames: "from" } });
    if (!r.ok) {
      // Fail closed without losing it: an event that cannot be verified now waits until the registry can be read.
      if (r.wait) waitForVerification(m, this.opts.log, r.reason, { rule: rule.name });
      else await this.refuse(rule, m, r.reason, r.env);
      return;
    }
    const env = r.env;
    const shape = checkEvent(env, m.subject);
    if (!shape.ok) {
      await this.refuse(rule, m, shape.reason, env);
      return;
    }
    if (!shape.known && !takesUnknownKinds(rule)) {
      await this.refuse(
        rule,
        m,
        `unknown event kind ${env.type ?? ""} (a rule whose on is ${rule.on} fires on the known kinds only; name the sender or kind in on, or list from)`,
        env,
      );
      return;
    }
    const notAllowed = senderRefused(rule, env.from);
    if (notAllowed) {
      await this.skip(rule, m, notAllowed);
      return;
    }
    if (causedByHook(env, this.opts.self) || !matches(rule, templateContext(env, m.subject))) {
      await this.skip(rule, m);
      return;
    }
    const context = { agent: this.opts.agent, ruleName: rule.name, ...(this.opts.git ? { git: this.opts.git } : {}) };
    const tried = await retryHolding(m, () => runAction(rule.action, env, m.subject, context), {
      signal: this.abort.signal,
      maxAttempts: rule.maxAttempts,
      ...(this.opts.backoff ? { backoff: this.opts.backoff } : {}),
      // An action on the local gateway is retried as soon as the gateway listens again.
      ...(actsOnGateway(rule) ? { reachable: this.opts.agent.url } : {}),
      onRetry: () => {
        stats.retried++;
        this.statsChanged();
      },
    });
    if (!tried) return;
    const { result: res, attempts } = tried;
    if (res.ok) {
      stats.fired++;
      this.statsChanged();
      this.opts.log.info({ rule: rule.name, event: env.id, type: env.type }, "hook fired");
      await m.ackAck().catch(() => undefined);
      return;
    }
    stats.deadLettered++;
    this.statsChanged();
    const reason = `rule ${rule.name}: ${res.reason}${res.retryable ? ` (gave up after ${attempts} attempts)` : ""}`;
    // A failed dead letter leaves the event for redelivery (refuse()): the rule is tried again, evidence kept.
    await refuse(m, { nc: this.opts.nc, self: this.opts.self, source: "hooks", stream: hooksStreamName(this.opts.self), log: this.opts.log, reason, sender: ownerOf(m.subject), env });
  }

  /** Keeps the stats file (for `mesh hooks list`) at most 200 ms behind. */
  private statsChanged(): void {
    if (!this.opts.statsFile || this.statsTimer) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = undefined;
      this.writeStats();
    }, 200);
  }

  private writeStats(): void {
    if (!this.opts.statsFile) return;
    try {
      writeHookStats(this.opts.statsFile, this.stats);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, file: this.opts.statsFile }, "could not write the hook stats file");
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
    if (this.statsTimer) clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    this.writeStats();
  }
}
