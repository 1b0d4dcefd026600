import { randomUUID } from "node:crypto";
import { postJson, type PostError } from "../../base/http-post.js";
import { responseSchema, taskSchema, JSONRPC, type Task } from "./wire.js";

/** What one JSON-RPC call to a gateway's /a2a/v1 came to. */
export type CallResult =
  | { kind: "task"; task: Task }
  | { kind: "rpc-error"; code: number; message: string }
  | { kind: "http"; status: number; reason: string }
  | { kind: "unreachable"; reason: string };

/** One JSON-RPC call with the peer's bearer token; never throws. */
export async function a2aCall(
  url: string,
  token: string,
  method: "SendMessage" | "GetTask",
  params: unknown,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<CallResult> {
  let res;
  try {
    res = await postJson(
      url,
      { "content-type": "application/json", authorization: `Bearer ${token}` },
      JSON.stringify({ jsonrpc: JSONRPC, id: randomUUID(), method, params }),
      { timeoutMs: opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
  } catch (err) {
    return { kind: "unreachable", reason: `gateway unreachable: ${(err as PostError).message}` };
  }
  if (res.status !== 200) return { kind: "http", status: res.status, reason: `HTTP ${res.status} ${res.text.trim().split("\n")[0]?.slice(0, 200) ?? ""}`.trim() };
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    return { kind: "http", status: 502, reason: "the gateway's A2A endpoint answered with something that is not JSON" };
  }
  const parsed = responseSchema.safeParse(body);
  if (!parsed.success) return { kind: "http", status: 502, reason: "the gateway's A2A endpoint answered outside JSON-RPC 2.0" };
  if (parsed.data.error) return { kind: "rpc-error", code: parsed.data.error.code, message: parsed.data.error.message };
  const result = parsed.data.result as { task?: unknown } | undefined;
  // SendMessage answers { task }, GetTask answers the task itself.
  const task = taskSchema.safeParse(result && typeof result === "object" && "task" in result ? result.task : result);
  if (!task.success) return { kind: "http", status: 502, reason: "the gateway's A2A answer carries no task" };
  return { kind: "task", task: task.data };
}
