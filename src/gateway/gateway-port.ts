import type { GatewayPort, RunReply } from "../sidecar/types.js";
import { postAgentHook, postWakeHook, type GatewayEndpoint } from "./hooks.js";

/** Something that can wait for the final reply of a hook-started run (the gateway WebSocket client). */
export interface RunReplySource {
  waitForReply(p: { sessionKey: string; marker: string; timeoutMs: number }): Promise<RunReply>;
}

/** The sidecar's view of a real OpenClaw gateway: hooks over HTTP, replies over the WebSocket. */
export function gatewayPort(endpoint: GatewayEndpoint, replies?: RunReplySource): GatewayPort {
  return {
    url: endpoint.url,
    startTurn: (req, opts) => postAgentHook(endpoint, req, opts),
    wake: (text) => postWakeHook(endpoint, { text, mode: "now" }),
    ...(replies ? { waitForReply: (p) => replies.waitForReply(p) } : {}),
  };
}
