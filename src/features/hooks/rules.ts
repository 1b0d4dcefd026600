import { z } from "zod";
import { checkSubject } from "../../../subjects/mod.js";
import { isIdentity, parseSessionKey } from "../../../subjects/mod.js";
import { checkTemplate, lookup } from "./template.js";

/**
 * Fan-out rules (config `hooks`): on a subject filter of the EVENTS stream, an optional condition on
 * the envelope, and one action. See README "Hooks and alerts".
 */
const template = z.string().min(1).superRefine((t, ctx) => {
  const bad = checkTemplate(t);
  if (bad) ctx.addIssue({ code: "custom", message: bad });
});

const condition = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  // Compiled once, when the config loads: an invalid pattern is a config error, not a failure per event.
  z
    .object({ match: z.string() })
    .strict()
    .transform((m, ctx) => {
      try {
        return { match: m.match, re: new RegExp(m.match) };
      } catch (err) {
        ctx.addIssue({ code: "custom", message: `invalid regular expression: ${(err as Error).message}` });
        return z.NEVER;
      }
    }),
  z.object({ in: z.array(z.union([z.string(), z.number(), z.boolean()])) }).strict(),
]);

const webhook = z
  .object({
    type: z.literal("webhook"),
    url: z.url(),
    headers: z.record(z.string(), z.string()).default({}),
    /** HMAC-SHA256 of the body with this secret, sent as X-Mesh-Signature: sha256=<hex>. */
    secret: z.string().min(8).optional(),
    /** The body: the envelope as JSON (default) or a template. */
    body: template.optional(),
  })
  .strict();
const wake = z.object({ type: z.literal("wake"), text: template }).strict();
const agent = z
  .object({
    type: z.literal("agent"),
    message: template,
    /** A session of the rule's own: mesh:hook-<name> (so the loop guard knows the runs are the rule's). */
    sessionKey: z
      .string()
      .refine((k) => parseSessionKey(k)?.kind === "hook", { message: 'must start with "mesh:hook-" (e.g. "mesh:hook-deploys")' })
      .optional(),
  })
  .strict();
const alert = z
  .object({ type: z.literal("alert"), message: template, channel: z.string().min(1), to: z.string().min(1) })
  .strict();

/**
 * `git fetch` in this machine's clones of the pushed repo (config `repos`), for `git.pushed` events:
 * no shell, a fixed argv, paths only from the config (README "Shared repos").
 */
const gitFetch = z
  .object({ type: z.literal("git-fetch"), timeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000) })
  .strict();

export const actionSchema = z.discriminatedUnion("type", [webhook, wake, agent, alert, gitFetch]);
export type HookAction = z.infer<typeof actionSchema>;

export const ruleSchema = z
  .object({
    name: z.string().refine(isIdentity, { message: "rule names are lowercase letters, digits and dashes" }),
    on: z.string().superRefine((s, ctx) => {
      try {
        checkSubject(s, { wildcards: true });
        if (!(s === "events.>" || s.startsWith("events."))) throw new Error("must be a subject under events.");
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
      }
    }),
    /**
     * Allowed senders: the event's (verified) `from` must be one of these identities, else the rule
     * does not fire. Unset: any identity whose events match `on`.
     */
    from: z
      .array(z.string().refine(isIdentity, { message: "identities are lowercase letters, digits and dashes" }))
      .min(1, { message: "list at least one identity (or leave `from` out for any sender)" })
      .optional(),
    /** Every listed path must equal the value (or match the regex / be in the list). */
    when: z.record(z.string(), condition).optional(),
    action: actionSchema,
    /** Failed attempts before the event is dead-lettered for this rule. */
    maxAttempts: z.number().int().min(1).max(100).default(5),
  })
  .strict();
export type HookRule = z.infer<typeof ruleSchema>;

/** Why this sender may not fire the rule (its `from` list), or undefined when it may. */
export function senderRefused(rule: HookRule, from: string): string | undefined {
  if (!rule.from || rule.from.includes(from)) return undefined;
  return `sender ${from} is not in the rule's from list (${rule.from.join(", ")})`;
}

/**
 * Whether the rule takes events of kinds outside subjects/events.ts (which have no schema): only when
 * it names who or what it listens to — a literal sender or kind in `on` (`events.nova.>`,
 * `events.*.build.>`) or a `from` list. `events.>` and `events.*.>` fire on the known kinds only.
 */
export function takesUnknownKinds(rule: HookRule): boolean {
  if (rule.from) return true;
  const [, who, kind] = rule.on.split(".");
  const literal = (t: string | undefined): boolean => t !== undefined && t !== "*" && t !== ">";
  return literal(who) || literal(kind);
}

export function matches(rule: HookRule, ctx: Record<string, unknown>): boolean {
  if (!rule.when) return true;
  return Object.entries(rule.when).every(([path, want]) => {
    const have = lookup(ctx, path);
    if (typeof want === "object" && want !== null && "re" in want) return typeof have === "string" && want.re.test(have);
    if (typeof want === "object" && want !== null && "in" in want) return want.in.some((v) => v === have);
    return have === want;
  });
}
