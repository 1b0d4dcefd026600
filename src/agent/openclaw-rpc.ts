import WebSocket from "ws";
import { z } from "zod";
import { sleep } from "../base/backoff.js";
import { VERSION } from "../base/version.js";

/**
 * One call of the OpenClaw gateway's WebSocket protocol (v4) on a connection of its own, opened
 * for that call and closed after it: for the rare call that needs more than the sidecar's
 * long-lived read-only watch (openclaw-hooks/watch.ts) holds, e.g. `sessions.abort`, which needs
 * `operator.write`. Connects as a trusted local backend with the gateway token (no device pairing
 * on loopback), like the watch. Never throws.
 */
export type RpcAnswer = { ok: true; payload: unknown } | { ok: false; code: string; message: string };

const frameSchema = z.union([
  z.object({ type: z.literal("event"), event: z.string() }).passthrough(),
  z
    .object({
      type: z.literal("res"),
      id: z.string(),
      ok: z.boolean(),
      payload: z.unknown().optional(),
      error: z.object({ code: z.string().optional(), message: z.string().optional(), retryable: z.boolean().optional() }).passthrough().optional(),
    })
    .passthrough(),
]);

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
  const u = new URL(o.url);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return new Promise((resolve) => {
    const ws = new WebSocket(u.toString(), { handshakeTimeout: Math.max(1000, deadline - Date.now()) });
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
      let raw: unknown;
      try {
        raw = JSON.parse(String(data));
      } catch {
        return;
      }
      const f = frameSchema.safeParse(raw);
      if (!f.success) return;
      const frame = f.data;
      if (frame.type === "event") {
        if (frame.event !== "connect.challenge") return;
        ws.send(
          JSON.stringify({
            type: "req",
            id: "connect",
            method: "connect",
            params: {
              minProtocol: 4,
              maxProtocol: 4,
              client: { id: "gateway-client", version: VERSION, platform: process.platform, mode: "backend" },
              role: "operator",
              scopes: o.scopes,
              caps: [],
              auth: { token: o.token },
            },
          }),
        );
        return;
      }
      if (frame.type !== "res") return;
      if (!frame.ok) {
        return done({ ok: false, code: frame.error?.code ?? "ERROR", message: frame.error?.message ?? "refused", retryable: frame.id === "connect" && frame.error?.retryable === true });
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
