import { newEnvelope, type Envelope } from "../../../subjects/mod.js";
import type { HookRule } from "./rules.js";

/** A made-up event that matches the rule's `on` filter, for `mesh hooks test`. */
export function sampleEvent(rule: HookRule, self: string): { subject: string; env: Envelope } {
  const tokens = rule.on.split(".").map((t, i) => (t === "*" ? (i === 1 ? self : "sample") : t === ">" ? "sample" : t));
  const subject = tokens.join(".");
  const from = tokens[1] ?? self;
  const env = newEnvelope({
    from,
    to: "*",
    kind: "event",
    type: tokens.slice(2).join("."),
    body: { sample: true, reason: "this is a test event from `mesh hooks test`", rule: rule.name },
  });
  return { subject, env };
}
