import { parseSessionKey } from "../../../subjects/mod.js";
import type { AgentPort, GatewayEventSource, ReplyTicket, RunReply } from "../port.js";
import type { RpcAnswer } from "../openclaw-rpc.js";
import { postAgentHook, postWakeHook, type GatewayEndpoint } from "./hooks-client.js";
import { HOOKS_BRIDGE, automationTurn, jobTurn, peerTurn } from "./turns.js";

/** Something that can wait for the final reply of a hook-started run (the gateway WebSocket client). */
export interface RunReplySource {
  waitForReply(p: { sessionKey: string; marker: string; timeoutMs: number }): Promise<RunReply>;
}

export interface OpenclawHooksOptions {
  endpoint: GatewayEndpoint;
  /** Reads ask and job replies (the WebSocket watch); without it asks and jobs get no answer. */
  replies?: RunReplySource;
  /** The gateway's lifecycle (the WebSocket watch). */
  events?: GatewayEventSource;
  /** Turn ends (the WebSocket watch), offered as AgentPort.onTurnEnd. */
  onTurnEnd?: (listener: (sessionKey: string) => void) => () => void;
  /** Turn starts (the WebSocket watch), offered as AgentPort.onTurnStart. */
  onTurnStart?: (listener: (sessionKey: string) => void) => () => void;
  /** The gateway agent that runs mesh turns (default: the gateway's default agent). */
  agentId?: string;
  /** The gateway's sessions.abort (WebSocket, operator.write): tried on a cancelled job's session. */
  abortSession?: (sessionKey: string) => Promise<RpcAnswer>;
}

/**
 * Tries to stop a job's hook-started turn with sessions.abort on its session
 * (`agent:<agent>:mesh:job-<id>`) and says what the gateway answered. On OpenClaw 2026.9.6 a
 * hook-started run was not found there (`no-active-run`): hook runs are not owned by the session
 * key they were given.
 */
async function cancelHookJob(o: OpenclawHooksOptions, ticket: ReplyTicket): Promise<{ stopped: boolean; detail: string }> {
  if (parseSessionKey(ticket.session)?.kind !== "job") return { stopped: false, detail: "not a job turn; nothing was aborted" };
  if (!o.abortSession) return { stopped: false, detail: "no gateway token: the sidecar cannot call the gateway's sessions.abort, so the turn runs to its end" };
  const key = `agent:${o.agentId ?? "main"}:${ticket.session}`;
  const a = await o.abortSession(key);
  if (!a.ok) return { stopped: false, detail: `the gateway refused sessions.abort on ${key}: ${a.code} ${a.message}; the turn runs to its end` };
  const status = (a.payload as { status?: unknown } | undefined)?.status;
  if (status === "aborted") return { stopped: true, detail: `the gateway aborted the turn (sessions.abort on ${key}: aborted)` };
  return { stopped: false, detail: `sessions.abort on ${key} answered ${JSON.stringify(status ?? null)}: the gateway did not find the hook-started run there, so it runs to its end` };
}

/**
 * The AgentPort over OpenClaw's hooks API: every turn is a POST /hooks/agent (with an
 * Idempotency-Key), replies and lifecycle come from the gateway's WebSocket.
 */
export function openclawHooksAgent(o: OpenclawHooksOptions): AgentPort {
  const { endpoint, agentId } = o;
  return {
    url: endpoint.url,
    bridge: HOOKS_BRIDGE,
    ...(o.onTurnEnd ? { onTurnEnd: o.onTurnEnd } : {}),
    ...(o.onTurnStart ? { onTurnStart: o.onTurnStart } : {}),
    async deliver(m, opts) {
      const { req, ticket } = peerTurn(m, agentId);
      const res = await postAgentHook(endpoint, req, opts);
      return res.ok && ticket ? { ...res, ticket } : res;
    },
    async runJob(j, opts) {
      const { req, ticket } = jobTurn(j, agentId);
      const res = await postAgentHook(endpoint, req, opts);
      return res.ok ? { ...res, ticket } : res;
    },
    automation: (t, opts) => postAgentHook(endpoint, automationTurn(t, agentId), opts),
    wake: (text, opts) => postWakeHook(endpoint, { text, mode: "now" }, opts),
    ...(o.replies
      ? {
          awaitReply: (ticket: ReplyTicket, timeoutMs: number) =>
            o.replies!.waitForReply({ sessionKey: ticket.session, marker: ticket.ref, timeoutMs }),
        }
      : {}),
    cancel: (ticket) => cancelHookJob(o, ticket),
    ...(o.events ? { events: o.events } : {}),
  };
}
