/**
 * What the sidecar needs from the local gateway, as narrow ports (src/gateway/ implements them
 * against a real OpenClaw gateway; load tests may plug in a small hooks endpoint).
 */
export interface AgentTurnRequest {
  message: string;
  name: string;
  sessionKey: string;
  agentId?: string;
  /** "persistent" keeps one conversation per sessionKey (the gateway default is "isolated"). */
  sessionMode?: "persistent" | "isolated";
  /** Sent as the Idempotency-Key header: the gateway replays, not re-runs, a repeated request. */
  idempotencyKey?: string;
  deliver?: boolean;
  channel?: string;
  to?: string;
}

/** The marker an ask carries in its text, so its run can be found in the gateway's session events. */
export function askMarker(id: string): string {
  return `[mesh ask ${id}]`;
}

/** The same for a job's turn. */
export function jobMarker(id: string): string {
  return `[mesh job ${id}]`;
}

export type DeliveryResult =
  | { ok: true; status: number; runId?: string }
  | { ok: false; status: number; retryable: boolean; reason: string };

export interface RunReply {
  status: "ok" | "error" | "timeout";
  text?: string;
  error?: string;
}

export interface GatewayPort {
  readonly url: string;
  /** POST /hooks/agent. */
  startTurn(req: AgentTurnRequest, opts?: { timeoutMs?: number; signal?: AbortSignal }): Promise<DeliveryResult>;
  /** POST /hooks/wake: a system event for the main session. */
  wake?(text: string): Promise<DeliveryResult>;
  /** The final reply to the turn whose text carried `marker` (needs the gateway's WebSocket). */
  waitForReply?(p: { sessionKey: string; marker: string; timeoutMs: number }): Promise<RunReply>;
}
