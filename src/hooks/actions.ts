import { createHmac } from "node:crypto";
import type { Envelope } from "../../subjects/mod.js";
import type { DeliveryResult, GatewayPort } from "../sidecar/types.js";
import type { HookAction } from "./rules.js";
import { render } from "./template.js";

export interface ActionContext {
  gateway: GatewayPort;
  /** POST /hooks/wake on the local gateway. */
  wake: (text: string) => Promise<DeliveryResult>;
  ruleName: string;
}

/** The object templates see: the envelope plus the subject it came on. */
export function templateContext(env: Envelope, subject: string): Record<string, unknown> {
  return { ...env, subject };
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
        const res = await fetch(action.url, { method: "POST", headers, body, signal: AbortSignal.timeout(15_000) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return { ok: true, status: res.status };
        const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
        return { ok: false, status: res.status, retryable, reason: `HTTP ${res.status}` };
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        return { ok: false, status: 0, retryable: true, reason: `unreachable: ${e.cause?.code ?? e.message}` };
      }
    }
    case "wake":
      return c.wake(render(action.text, ctx));
    case "agent":
      return c.gateway.startTurn({
        message: render(action.message, ctx),
        name: `mesh:hook:${c.ruleName}`,
        sessionKey: action.sessionKey ?? `mesh:hook-${c.ruleName}`,
        sessionMode: "persistent",
        deliver: false,
        idempotencyKey: `mesh-hook-${c.ruleName}-${env.id}`,
      });
    case "alert":
      return c.gateway.startTurn({
        message: render(action.message, ctx),
        name: `mesh:alert:${c.ruleName}`,
        sessionKey: `mesh:alert-${c.ruleName}`,
        sessionMode: "persistent",
        deliver: true,
        channel: action.channel,
        to: action.to,
        idempotencyKey: `mesh-alert-${c.ruleName}-${env.id}`,
      });
  }
}
