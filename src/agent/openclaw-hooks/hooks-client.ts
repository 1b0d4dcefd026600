import { z } from "zod";
import { postJson, type PostError, type PostResult } from "../../base/http-post.js";
import { httpRefused, unreachable, type DeliveryResult } from "../port.js";

/**
 * Client of OpenClaw's hooks HTTP contract (docs/automation/cron-jobs/webhooks.md,
 * docs/gateway/config-hooks.md): POST <gateway><hooks.path>/agent and /wake with the hooks token
 * in `Authorization: Bearer` (never in a URL). Results are classified for the caller's policy:
 * unreachable, timeout, 5xx and 429 are retryable; other 4xx are not.
 */
export interface GatewayEndpoint {
  url: string;
  hooksPath: string;
  hooksToken: string;
}

export interface AgentHookRequest {
  message: string;
  name?: string;
  sessionKey?: string;
  agentId?: string;
  wakeMode?: "now" | "next-heartbeat";
  deliver?: boolean;
  channel?: string;
  to?: string;
  model?: string;
  timeoutSeconds?: number;
  sessionMode?: "persistent" | "isolated";
  /** Sent as the Idempotency-Key header (the gateway replays an admitted run instead of re-running it). */
  idempotencyKey?: string;
}

const okBody = z.object({ ok: z.literal(true), runId: z.string().optional() }).passthrough();
const errBody = z.object({ error: z.string().optional(), message: z.string().optional() }).passthrough();

function hookUrl(gw: GatewayEndpoint, action: "agent" | "wake"): string {
  const base = gw.url.replace(/\/+$/, "");
  const path = `/${gw.hooksPath.replace(/^\/+|\/+$/g, "")}`;
  return `${base}${path}/${action}`;
}

async function post(
  gw: GatewayEndpoint,
  action: "agent" | "wake",
  body: unknown,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<DeliveryResult> {
  const { idempotencyKey, ...rest } = body as { idempotencyKey?: string };
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let res: PostResult;
  try {
    res = await postJson(
      hookUrl(gw, action),
      {
        "content-type": "application/json",
        authorization: `Bearer ${gw.hooksToken}`,
        ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
      },
      JSON.stringify(rest),
      { timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
  } catch (err) {
    const e = err as PostError;
    return unreachable(`gateway unreachable: ${e.message}`);
  }
  let json: unknown;
  try {
    json = res.text ? JSON.parse(res.text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.status >= 200 && res.status < 300) {
    const parsed = okBody.safeParse(json);
    if (parsed.success) return { ok: true, status: res.status, ...(parsed.data.runId ? { runId: parsed.data.runId } : {}) };
    // Not the hooks contract: most likely gateway.url is not an OpenClaw gateway. Retrying cannot fix that.
    return { ok: false, status: res.status, retryable: false, reason: `gateway answered ${res.status} without {"ok":true} (is ${gw.url} an OpenClaw gateway?)` };
  }
  const detail = errBody.safeParse(json);
  const said = detail.success ? (detail.data.error ?? detail.data.message) : res.text.trim().split("\n")[0];
  const reason = `HTTP ${res.status}${said ? ` ${String(said).slice(0, 200)}` : ""}`;
  return httpRefused(res.status, reason);
}

export function postAgentHook(
  gw: GatewayEndpoint,
  req: AgentHookRequest,
  opts?: { timeoutMs?: number; signal?: AbortSignal },
): Promise<DeliveryResult> {
  return post(gw, "agent", req, opts);
}

export function postWakeHook(
  gw: GatewayEndpoint,
  req: { text: string; mode?: "now" | "next-heartbeat" },
  opts?: { timeoutMs?: number; signal?: AbortSignal },
): Promise<DeliveryResult> {
  return post(gw, "wake", req, opts);
}
