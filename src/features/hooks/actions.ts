import { createHmac } from "node:crypto";
import { alertSessionKey, hookSessionKey, type Envelope } from "../../../subjects/mod.js";
import { postJson, type PostError } from "../../base/http-post.js";
import { httpRefused, unreachable, type AgentPort, type DeliveryResult } from "../../agent/port.js";
import type { GitFetcher } from "../repos/fetch.js";
import type { HookAction } from "./rules.js";
import { framing, quotesPeerText, render } from "./template.js";

export interface ActionContext {
  agent: AgentPort;
  ruleName: string;
  /** The git-fetch action's fetcher (config `repos`); absent when none are configured. */
  git?: GitFetcher;
}

/** The object templates see: the envelope plus the subject it came on. */
export function templateContext(env: Envelope, subject: string): Record<string, unknown> {
  return { ...env, subject };
}

/** The session a rule's agent or alert action runs in. */
export function actionSession(action: HookAction, ruleName: string): string | undefined {
  if (action.type === "agent") return action.sessionKey ?? hookSessionKey(ruleName);
  if (action.type === "alert") return alertSessionKey(ruleName);
  return undefined;
}

/**
 * The text of a turn for the agent (agent, alert, wake): the rule's own text as written, a peer's
 * values quoted and capped, and — when any are quoted — the framing line first, so the agent knows
 * they are data from a peer's event, not instructions.
 */
export function agentText(t: string, ctx: Record<string, unknown>, env: Envelope, rule: string, quote: "json" | "plain"): string {
  const text = render(t, ctx, { quote });
  return quotesPeerText(t) ? `${framing(rule, env.from)}\n${text}` : text;
}

/** Runs one action for one event; the result says whether a retry can help. */
export async function runAction(action: HookAction, env: Envelope, subject: string, c: ActionContext): Promise<DeliveryResult> {
  const ctx = templateContext(env, subject);
  switch (action.type) {
    case "webhook": {
      // A machine reads it: peer values quoted as JSON string literals, not cut.
      const body = action.body ? render(action.body, ctx, { maxChars: 0 }) : JSON.stringify(env);
      const headers: Record<string, string> = { "content-type": action.body ? "text/plain; charset=utf-8" : "application/json", ...action.headers };
      if (action.secret) headers["x-mesh-signature"] = `sha256=${createHmac("sha256", action.secret).update(body).digest("hex")}`;
      headers["x-mesh-rule"] = c.ruleName;
      headers["x-mesh-event-id"] = env.id;
      try {
        const res = await postJson(action.url, headers, body, { timeoutMs: 15_000 });
        if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
        return httpRefused(res.status, `HTTP ${res.status}`);
      } catch (err) {
        return unreachable(`unreachable: ${(err as PostError).message}`);
      }
    }
    case "wake":
      return c.agent.wake(agentText(action.text, ctx, env, c.ruleName, "json"));
    case "git-fetch":
      if (!c.git) return { ok: false, status: 0, retryable: false, reason: "this machine has no repos in its config to fetch into" };
      return c.git.fetchFor(env, action.timeoutMs);
    case "agent":
    case "alert":
      return c.agent.automation({
        source: action.type === "agent" ? "hook" : "alert",
        rule: c.ruleName,
        eventId: env.id,
        // An alert's text ends up on a phone: its peer values keep no control characters.
        text: agentText(action.message, ctx, env, c.ruleName, action.type === "alert" ? "plain" : "json"),
        session: actionSession(action, c.ruleName)!,
        ...(action.type === "alert" ? { deliverTo: { channel: action.channel, to: action.to } } : {}),
      });
  }
}
