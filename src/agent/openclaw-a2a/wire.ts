import { z } from "zod";

/**
 * The A2A 1.0 JSON-RPC binding as the sidecar speaks it to its gateway's /a2a/v1 (docs/channels/a2a.md
 * of OpenClaw): SendMessage and GetTask, and what comes back. The sidecar's own A2A server is the
 * SDK's (features/a2a-server).
 */
export const JSONRPC = "2.0" as const;

/** JSON-RPC and A2A error codes. */
export const RpcCodes = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Internal: -32603,
  /** OpenClaw: "Peer is rate limited" (HTTP 200). */
  RateLimited: -32000,
  TaskNotFound: -32001,
  TaskNotCancelable: -32002,
  Unauthorized: -32003,
  UnsupportedOperation: -32004,
} as const;

export const TaskStates = {
  submitted: "TASK_STATE_SUBMITTED",
  working: "TASK_STATE_WORKING",
  completed: "TASK_STATE_COMPLETED",
  failed: "TASK_STATE_FAILED",
  rejected: "TASK_STATE_REJECTED",
  canceled: "TASK_STATE_CANCELED",
} as const;
export const TERMINAL: ReadonlySet<string> = new Set([TaskStates.completed, TaskStates.failed, TaskStates.rejected, TaskStates.canceled]);

const part = z.object({ text: z.string().optional(), data: z.unknown().optional() }).passthrough();

export const taskSchema = z
  .object({
    id: z.string(),
    contextId: z.string().optional(),
    status: z.object({ state: z.string(), message: z.unknown().optional(), timestamp: z.string().optional() }).passthrough(),
    artifacts: z.array(z.object({ parts: z.array(part).optional() }).passthrough()).optional(),
  })
  .passthrough();
export type Task = z.infer<typeof taskSchema>;

export const responseSchema = z
  .object({
    jsonrpc: z.literal(JSONRPC),
    id: z.unknown(),
    result: z.unknown().optional(),
    error: z.object({ code: z.number(), message: z.string() }).passthrough().optional(),
  })
  .passthrough();

/** The text of a message's or artifact's parts (data parts as compact JSON, as OpenClaw does). */
export function partsText(parts: ReadonlyArray<{ text?: string | undefined; data?: unknown }> | undefined): string {
  return (parts ?? []).map((p) => (typeof p.text === "string" ? p.text : p.data !== undefined ? JSON.stringify(p.data) : "")).join("");
}

/** A task's answer: the text of its artifacts (OpenClaw puts the reply in artifacts[0]). */
export function taskText(t: Task): string {
  return (t.artifacts ?? []).map((a) => partsText(a.parts)).join("\n").trim();
}

/** The reason text a failed or rejected task carries in its status message. */
export function statusText(t: Task): string {
  const m = t.status.message as { parts?: Array<{ text?: string }> } | undefined;
  return partsText(m?.parts).trim();
}
