import { createHmac } from "node:crypto";
import { alertSessionKey, hookSessionKey, type Envelope } from "../../../subjects/mod.js";
import { postJson, type PostError } from "../../base/http-post.js";
import { retryableStatus, type AgentPort, type DeliveryResult } from "../../agent/port.js";
import type { HookAction } from "./rules.js";
import { render } from "./template.js";

export interface ActionContext {
  agent: AgentPort;
  ruleName: string;
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

/** Runs one action for one event; the result says whether a retry can help. */
export async function runAction(action: HookAction, env: Envelope, subject: string, c: ActionContext): Promise<DeliveryResult> {
  const ctx = templateContext(env, subject);
  switch (action.type) {
    case "webhook": {
      const body = action.body ? render(action.body, ctx) : JSON.stringify(env);
      const headers: Record<string, string> = { "content-type": action.body ? "text/plain; charset=utf-8" : "application/json", ...action.headers };
      if (action.secret) headers["x-mesh-signature"] = `sha256=${createHmac("sha256", action.secret).update(body).digest("hex")}`;
      headers["x-mesh-rule"] = c.ruleName;
      headers["x-mesh-event-id"] = env.id;
      try {
        const res = await postJson(action.url, headers, body, { timeoutMs: 15_000 });
        if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
        return { ok: false, status: res.status, retryable: retryableStatus(res.status), reason: `HTTP ${res.status}` };
      } catch (err) {
        return { ok: false, status: 0, retryable: true, reason: `unreachable: ${(err as PostError).message}` };
      }
    }
    case "wake":
      return c.agent.wake(render(action.text, ctx));
    case "agent":
    case "alert":
      return c.agent.automation({
        source: action.type === "agent" ? "hook" : "alert",
        rule: c.ruleName,
        eventId: env.id,
        text: render(action.message, ctx),
        session: actionSession(action, c.ruleName)!,
        ...(action.type === "alert" ? { deliverTo: { channel: action.channel, to: action.to } } : {}),
      });
  }
}
