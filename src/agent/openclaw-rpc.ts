import WebSocket from "ws";
import { sleep } from "../base/backoff.js";
import { connectParams, frameError, parseFrame, wsUrl } from "./openclaw-ws.js";

/**
 * One call of the OpenClaw gateway's WebSocket protocol (v4) on a connection of its own, opened
 * for that call and closed after it: for the rare call that needs more than the sidecar's
 * long-lived read-only watch (openclaw-hooks/watch.ts) holds, e.g. `sessions.abort`, which needs
 * `operator.write`. Connects as the watch does (openclaw-ws.ts). Never throws.
 */
export type RpcAnswer = { ok: true; payload: unknown } | { ok: false; code: string; message: string };

export interface GatewayCallOptions {
  /** The gateway's base URL (http://127.0.0.1:18789). */
  url: string;
  token: string;
  scopes: string[];
  method: string;
  params: unknown;
  /** For the whole call, connection included (default 15 s). */
  timeoutMs?: number;
}

function once(o: GatewayCallOptions, deadline: number): Promise<RpcAnswer & { retryable?: boolean }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl(o.url), { handshakeTimeout: Math.max(1000, deadline - Date.now()) });
    let settled = false;
    const done = (a: RpcAnswer & { retryable?: boolean }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on("error", () => undefined);
      ws.close();
      resolve(a);
    };
    const timer = setTimeout(() => done({ ok: false, code: "TIMEOUT", message: `no answer to ${o.method} in time`, retryable: false }), Math.max(0, deadline - Date.now()));
    ws.on("error", (err) => done({ ok: false, code: "UNREACHABLE", message: `gateway websocket: ${err.message}`, retryable: true }));
    ws.on("close", () => done({ ok: false, code: "CLOSED", message: "the gateway closed the websocket", retryable: true }));
    ws.on("message", (data) => {
      const frame = parseFrame(String(data));
      if (!frame) return;
      if (frame.type === "event") {
        if (frame.event === "connect.challenge") ws.send(JSON.stringify({ type: "req", id: "connect", method: "connect", params: connectParams(o.token, o.scopes) }));
        return;
      }
      if (!frame.ok) {
        const e = frameError(frame.error);
        return done({ ok: false, code: e.code ?? "ERROR", message: e.message, retryable: frame.id === "connect" && e.retryable });
      }
      if (frame.id === "connect") {
        ws.send(JSON.stringify({ type: "req", id: "call", method: o.method, params: o.params }));
        return;
      }
      if (frame.id === "call") done({ ok: true, payload: frame.payload });
    });
  });
}

/** Calls `method` once; a gateway still starting ("retry shortly") or unreachable is tried again until the deadline. */
export async function gatewayCall(o: GatewayCallOptions): Promise<RpcAnswer> {
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  for (;;) {
    const a = await once(o, deadline);
    if (a.ok || !a.retryable || Date.now() + 500 >= deadline) return a.ok ? a : { ok: false, code: a.code, message: a.message };
    await sleep(500);
  }
}
