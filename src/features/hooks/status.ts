import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { hookConsumerName, hooksStreamName } from "../../../subjects/names.js";
import { isNotFound } from "../../base/nats-errors.js";
import type { AgentPort, DeliveryResult } from "../../agent/port.js";
import { runAction } from "./actions.js";
import type { HookRule } from "./rules.js";
import { sampleEvent } from "./sample.js";
import type { HookStatsFile } from "./stats-file.js";

export interface RuleStatus {
  name: string;
  on: string;
  action: HookRule["action"]["type"];
  when: HookRule["when"] | null;
  /** The allowed senders, or null for any. */
  from: string[] | null;
  /** Undefined until the sidecar started the rule (its consumer does not exist yet). */
  lag?: number;
  inFlight?: number;
  /** From this machine's running sidecar (its stats file), when it has run the rule. */
  fired?: number;
  skipped?: number;
  refused?: number;
  deadLettered?: number;
  /** Why the last refused event was refused (e.g. "published on events.nova.x but claims to be from lyra"). */
  lastRefusal?: string;
}

/** `mesh hooks list`: each rule with its consumer's lag, and the local sidecar's counts when it has any. */
export async function ruleStatus(nc: NatsConnection, self: string, rules: HookRule[], stats?: HookStatsFile): Promise<RuleStatus[]> {
  const jsm = await jetstreamManager(nc);
  const out: RuleStatus[] = [];
  for (const rule of rules) {
    const row: RuleStatus = { name: rule.name, on: rule.on, action: rule.action.type, when: rule.when ?? null, from: rule.from ?? null };
    const st = stats?.rules[rule.name];
    if (st) {
      Object.assign(row, { fired: st.fired, skipped: st.skipped, refused: st.refused, deadLettered: st.deadLettered });
      if (st.lastRefusal) row.lastRefusal = st.lastRefusal;
    }
    try {
      const ci = await jsm.consumers.info(hooksStreamName(self), hookConsumerName(self, rule.name));
      row.lag = ci.num_pending;
      row.inFlight = ci.num_ack_pending;
    } catch (err) {
      if (!isNotFound(err)) throw err; // a permission denial is an error, not "not started"
    }
    out.push(row);
  }
  return out;
}

/** `mesh hooks test`: runs a rule's action once with a sample event. */
export async function testRule(rule: HookRule, self: string, agent: AgentPort): Promise<{ subject: string; result: DeliveryResult }> {
  const { subject, env } = sampleEvent(rule, self);
  return { subject, result: await runAction(rule.action, env, subject, { agent, ruleName: rule.name }) };
}
