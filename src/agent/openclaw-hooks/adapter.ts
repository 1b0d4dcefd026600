import type { AgentPort, GatewayEventSource, ReplyTicket, RunReply } from "../port.js";
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
  /** The gateway agent that runs mesh turns (default: the gateway's default agent). */
  agentId?: string;
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
    ...(o.events ? { events: o.events } : {}),
  };
}
