import { jobSessionKey, peerSessionKey } from "../../../subjects/mod.js";
import { checkoutLine, type AutomationTurn, type JobTurn, type PeerMessage, type ReplyTicket } from "../port.js";
import type { AgentHookRequest } from "./hooks-client.js";

/**
 * How each kind of turn becomes a POST /hooks/agent request — the only place they are built.
 * The gateway wraps every hook message as untrusted external content in an unattended run.
 * Idempotency keys make a repeated POST (after a crash between POST and ack) a replay, not a
 * second turn.
 */

export const HOOKS_BRIDGE = "openclaw-hooks";

/** The marker an ask or job carries in its text, so its run can be found in the session's events. */
export function replyMarker(kind: "ask" | "job", id: string): string {
  return `[mesh ${kind} ${id}]`;
}

/** Finds the markers in a transcript line (the inverse of replyMarker). */
export function markersIn(text: string): string[] {
  return [...text.matchAll(/\[mesh (ask|job) ([0-9a-f-]{8,64})\]/g)].map((m) => replyMarker(m[1] as "ask" | "job", m[2] as string));
}

export function peerTurn(m: PeerMessage, agentId?: string): { req: AgentHookRequest; ticket?: ReplyTicket } {
  const sessionKey = peerSessionKey(m.from);
  const marker = replyMarker("ask", m.id);
  const message =
    m.kind === "ask"
      ? `[mesh] ${m.from} asks ${marker} (your final reply is sent back to ${m.from} automatically):\n\n${m.text}`
      : `[mesh] message from ${m.from} (to answer: mesh send ${m.from} "…"):\n\n${m.text}`;
  return {
    req: {
      message,
      name: `mesh:${m.from}`,
      sessionKey,
      sessionMode: "persistent",
      // The mesh returns answers itself; no announcement into the gateway's main session.
      deliver: false,
      idempotencyKey: `mesh-${m.id}`,
      ...(agentId ? { agentId } : {}),
    },
    ...(m.kind === "ask" ? { ticket: { bridge: HOOKS_BRIDGE, session: sessionKey, ref: marker } } : {}),
  };
}

export function jobTurn(j: JobTurn, agentId?: string): { req: AgentHookRequest; ticket: ReplyTicket } {
  const sessionKey = jobSessionKey(j.id);
  const marker = replyMarker("job", j.id);
  return {
    req: {
      message: `[mesh] job ${marker} from ${j.from} (queue ${j.queue}). Do the task; your final reply is the job's result.${j.checkout ? `\n${checkoutLine(j.checkout)}` : ""}\n\n${j.task}`,
      name: "mesh:job",
      sessionKey,
      sessionMode: "persistent",
      deliver: false,
      idempotencyKey: `mesh-job-${j.id}-${j.attempt}`,
      ...(agentId ? { agentId } : {}),
    },
    ticket: { bridge: HOOKS_BRIDGE, session: sessionKey, ref: marker },
  };
}

export function automationTurn(t: AutomationTurn, agentId?: string): AgentHookRequest {
  return {
    message: t.text,
    name: `mesh:${t.source}:${t.rule}`,
    sessionKey: t.session,
    sessionMode: "persistent",
    deliver: Boolean(t.deliverTo),
    ...(t.deliverTo ? { channel: t.deliverTo.channel, to: t.deliverTo.to } : {}),
    idempotencyKey: `mesh-${t.source}-${t.rule}-${t.eventId}`,
    ...(agentId ? { agentId } : {}),
  };
}
