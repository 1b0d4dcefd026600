/**
 * What the sidecar needs from the local gateway, as narrow ports (src/gateway/ implements them
 * against a real OpenClaw gateway; load tests may plug in a small hooks endpoint).
 */
export interface AgentTurnRequest {
  message: string;
  name: string;
  sessionKey: string;
  agentId?: string;
  deliver?: boolean;
  channel?: string;
  to?: string;
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
  /** The final reply of a run started by startTurn (needs the gateway's WebSocket). */
  waitForReply?(p: { sessionKey: string; runId: string; timeoutMs: number }): Promise<RunReply>;
}
