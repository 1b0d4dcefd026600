import { z } from "zod";
import { VERSION } from "../base/version.js";

/**
 * The OpenClaw gateway's WebSocket protocol (v4), as both of its clients here speak it: the
 * sidecar's long-lived read-only watch (openclaw-hooks/socket.ts) and the one-call connection
 * (openclaw-rpc.ts). Each connects as a trusted local backend with the gateway token (no device
 * pairing on loopback) after the gateway's `connect.challenge`.
 */
const frameSchema = z.union([
  z.object({ type: z.literal("event"), event: z.string(), payload: z.unknown().optional() }).passthrough(),
  z.object({ type: z.literal("res"), id: z.string(), ok: z.boolean(), payload: z.unknown().optional(), error: z.unknown().optional() }).passthrough(),
]);

type Frame = z.infer<typeof frameSchema>;

/** A frame from the gateway, or undefined for anything that is not one (never throws). */
export function parseFrame(text: string): Frame | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const f = frameSchema.safeParse(raw);
  return f.success ? f.data : undefined;
}

const errorSchema = z.object({ code: z.string().optional(), message: z.string().optional(), retryable: z.boolean().optional() }).passthrough();

/** A refused request's error, whatever shape the gateway gave it. */
export function frameError(error: unknown): { code?: string; message: string; retryable: boolean } {
  const e = errorSchema.safeParse(error);
  if (!e.success) return { message: typeof error === "string" ? error : JSON.stringify(error ?? "refused"), retryable: false };
  return { ...(e.data.code ? { code: e.data.code } : {}), message: e.data.message ?? "refused", retryable: e.data.retryable === true };
}

/** The gateway's WebSocket address for its HTTP base URL (http → ws, https → wss). */
export function wsUrl(httpUrl: string): string {
  const u = new URL(httpUrl);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

/** The `connect` request's params: a local backend, role operator, with these scopes. */
export function connectParams(token: string, scopes: string[]): Record<string, unknown> {
  return {
    minProtocol: 4,
    maxProtocol: 4,
    client: { id: "gateway-client", version: VERSION, platform: process.platform, mode: "backend" },
    role: "operator",
    scopes,
    caps: [],
    auth: { token },
  };
}
