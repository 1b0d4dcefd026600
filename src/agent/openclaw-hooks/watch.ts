import { replyFromText } from "../reply.js";
import WebSocket from "ws";
import { z } from "zod";
import type { EventBody, EventKind } from "../../../subjects/mod.js";
import { RESUME_BACKOFF, backoffDelay } from "../../base/backoff.js";
import type { Logger } from "../../base/log.js";
import { VERSION } from "../../base/version.js";
import { sameSession } from "../../../subjects/mod.js";
import type { GatewayEventSource, RunReply } from "../port.js";
import { markersIn } from "./turns.js";

/**
 * A read-only client of the OpenClaw gateway's WebSocket protocol (v4) for the local sidecar.
 *
 * - Connects as a trusted local backend (`client.id: gateway-client`, `mode: backend`, role operator,
 *   scope `operator.read` only) with the gateway auth token, then `sessions.subscribe`.
 * - Mirrors the agent lifecycle (`agent` events, stream `lifecycle`: phase start / end / error),
 *   `health` (on change) and `shutdown` as mesh events.
 * - Reads the final reply of an ask: a hook run's HTTP runId is not the runId its events carry, so
 *   the sidecar puts a marker (`[mesh ask <id>]`) in the message; the `session.message` user entry
 *   that carries it names the session, and the next `chat` event with `state: "final"` on that
 *   session is the answer.
 */
const frameSchema = z.union([
  z.object({ type: z.literal("event"), event: z.string(), payload: z.unknown().optional() }).passthrough(),
  z.object({ type: z.literal("res"), id: z.string(), ok: z.boolean(), payload: z.unknown().optional(), error: z.unknown().optional() }).passthrough(),
]);

const lifecycleSchema = z
  .object({
    runId: z.string(),
    sessionKey: z.string().optional(),
    agentId: z.string().optional(),
    stream: z.literal("lifecycle"),
    data: z.object({ phase: z.string(), error: z.unknown().optional(), aborted: z.boolean().optional(), stopReason: z.string().optional() }).passthrough(),
  })
  .passthrough();

const contentSchema = z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough())]);
const sessionMessageSchema = z
  .object({ sessionKey: z.string(), message: z.object({ role: z.string(), content: contentSchema.optional() }).passthrough() })
  .passthrough();
const chatSchema = z
  .object({
    sessionKey: z.string(),
    runId: z.string().optional(),
    state: z.string(),
    message: z.object({ role: z.string().optional(), content: contentSchema.optional() }).passthrough().optional(),
    errorMessage: z.string().optional(),
  })
  .passthrough();

function textOf(content: z.infer<typeof contentSchema> | undefined): string {
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return content
    .filter((p) => p.type === "text" && typeof p.text === "string")
    .map((p) => p.text)
    .join("");
}

interface PendingAsk {
  sessionKey: string;
  marker: string;
  seenOn?: string;
  resolve: (r: RunReply) => void;
}

export interface GatewayWatchOptions {
  url: string;
  token: string;
  log: Logger;
}

export class GatewayWatch {
  private ws?: WebSocket;
  private closed = false;
  private attempt = 0;
  private nextId = 0;
  private readonly pendingReq = new Map<string, (f: { ok: boolean; payload?: unknown; error?: unknown }) => void>();
  private readonly asks = new Set<PendingAsk>();
  /** Markers seen recently (the user entry may arrive before the sidecar starts waiting). */
  private readonly seen = new Map<string, string>();
  private emitEvent?: <K extends EventKind>(kind: K, body: EventBody<K>) => void;
  private lastHealth?: string;
  connected = false;

  constructor(private readonly o: GatewayWatchOptions) {}

  private wsUrl(): string {
    const u = new URL(this.o.url);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    return u.toString();
  }

  start(emit?: <K extends EventKind>(kind: K, body: EventBody<K>) => void): void {
    if (emit) this.emitEvent = emit;
    this.connect();
  }

  private connect(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.wsUrl(), { handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on("message", (data) => this.onFrame(String(data)));
    ws.on("error", (err) => this.o.log.debug({ err: err.message }, "gateway websocket error"));
    ws.on("close", () => {
      this.connected = false;
      for (const cb of this.pendingReq.values()) cb({ ok: false, error: "closed" });
      this.pendingReq.clear();
      if (this.closed) return;
      this.attempt++;
      setTimeout(() => this.connect(), backoffDelay(this.attempt, RESUME_BACKOFF)).unref();
    });
  }

  private request(method: string, params: unknown, timeoutMs = 10_000): Promise<{ ok: boolean; payload?: unknown; error?: unknown }> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.resolve({ ok: false, error: "not connected" });
    const id = `m${++this.nextId}`;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.pendingReq.delete(id);
        resolve({ ok: false, error: "timeout" });
      }, timeoutMs);
      this.pendingReq.set(id, (f) => {
        clearTimeout(t);
        resolve(f);
      });
      ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  }

  private async handshake(): Promise<void> {
    const hello = await this.request("connect", {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: "gateway-client", version: VERSION, platform: process.platform, mode: "backend" },
      role: "operator",
      scopes: ["operator.read"],
      caps: [],
      auth: { token: this.o.token },
    });
    if (!hello.ok) {
      const err = hello.error as { message?: string; retryable?: boolean } | undefined;
      this.o.log.warn({ reason: err?.message ?? String(hello.error) }, "gateway websocket refused the connection");
      this.ws?.close();
      return;
    }
    const sub = await this.request("sessions.subscribe", {});
    if (!sub.ok) this.o.log.warn({ error: sub.error }, "sessions.subscribe failed; ask replies may time out");
    this.connected = true;
    this.attempt = 0;
    this.o.log.info("gateway websocket connected (operator.read)");
  }

  private onFrame(text: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return;
    }
    const parsed = frameSchema.safeParse(raw);
    if (!parsed.success) return;
    const f = parsed.data;
    if (f.type === "res") {
      const cb = this.pendingReq.get(f.id);
      if (cb) {
        this.pendingReq.delete(f.id);
        cb(f);
      }
      return;
    }
    switch (f.event) {
      case "connect.challenge":
        void this.handshake();
        return;
      case "agent":
        return this.onAgent(f.payload);
      case "session.message":
        return this.onSessionMessage(f.payload);
      case "chat":
        return this.onChat(f.payload);
      case "health": {
        const p = (f.payload ?? {}) as Record<string, unknown>;
        const key = JSON.stringify({ ok: p.ok });
        if (key !== this.lastHealth) {
          this.lastHealth = key;
          this.emitEvent?.("gateway.health", { ok: p.ok ?? null, ts: p.ts ?? Date.now() });
        }
        return;
      }
      case "shutdown": {
        const p = (f.payload ?? {}) as { reason?: unknown; restartExpectedMs?: unknown };
        this.emitEvent?.("gateway.shutdown", {
          ...(typeof p.reason === "string" ? { reason: p.reason } : {}),
          ...(typeof p.restartExpectedMs === "number" ? { restartExpectedMs: p.restartExpectedMs } : {}),
        });
        return;
      }
      default:
        return;
    }
  }

  private onAgent(payload: unknown): void {
    const p = lifecycleSchema.safeParse(payload);
    if (!p.success) return;
    const { runId, sessionKey, agentId, data } = p.data;
    const base = { runId, ...(sessionKey ? { sessionKey } : {}), ...(agentId ? { agentId } : {}) };
    if (data.phase === "start") this.emitEvent?.("gateway.run.started", base);
    else if (data.phase === "end") {
      if (data.error || data.aborted) {
        this.emitEvent?.("gateway.run.failed", { ...base, error: data.error ? String(JSON.stringify(data.error)).slice(0, 300) : "aborted" });
      } else this.emitEvent?.("gateway.run.completed", base);
    } else if (data.phase === "error") {
      this.emitEvent?.("gateway.run.failed", { ...base, error: String(JSON.stringify(data.error ?? "error")).slice(0, 300) });
    }
  }

  private onSessionMessage(payload: unknown): void {
    const p = sessionMessageSchema.safeParse(payload);
    if (!p.success || p.data.message.role !== "user") return;
    const text = textOf(p.data.message.content);
    for (const marker of markersIn(text)) {
      this.seen.set(marker, p.data.sessionKey);
      if (this.seen.size > 1000) this.seen.delete(this.seen.keys().next().value as string);
      // The same check as for a marker seen before the wait began: only in the ask's own session.
      for (const ask of this.asks) if (ask.marker === marker && sameSession(ask.sessionKey, p.data.sessionKey)) ask.seenOn = p.data.sessionKey;
    }
  }

  private onChat(payload: unknown): void {
    const p = chatSchema.safeParse(payload);
    if (!p.success) return;
    const { sessionKey, state } = p.data;
    if (state !== "final" && state !== "error" && state !== "aborted") return;
    for (const ask of [...this.asks]) {
      if (!ask.seenOn || ask.seenOn !== sessionKey) continue;
      this.asks.delete(ask);
      if (state === "final") ask.resolve(replyFromText(textOf(p.data.message?.content)));
      else ask.resolve({ status: "error", error: p.data.errorMessage ?? `run ${state}` });
    }
  }

  /** Waits for the final reply to the turn whose text carries `marker` (`replyMarker`, turns.ts), in session `sessionKey`. */
  waitForReply(p: { sessionKey: string; marker: string; timeoutMs: number }): Promise<RunReply> {
    return new Promise((resolve) => {
      const seenOn = this.seen.get(p.marker);
      const ask: PendingAsk = {
        sessionKey: p.sessionKey,
        marker: p.marker,
        ...(seenOn && sameSession(p.sessionKey, seenOn) ? { seenOn } : {}),
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
      };
      const t = setTimeout(() => {
        this.asks.delete(ask);
        resolve({ status: "timeout", error: `no final reply within ${p.timeoutMs} ms` });
      }, p.timeoutMs);
      t.unref();
      this.asks.add(ask);
    });
  }

  /** The session transcript as the gateway shows it (chat.history; operator.read). */
  async history(sessionKey: string, limit = 50): Promise<Array<{ role: string; text: string }>> {
    const r = await this.request("chat.history", { sessionKey, limit });
    if (!r.ok) throw new Error(`chat.history failed: ${JSON.stringify(r.error).slice(0, 200)}`);
    const parsed = z
      .object({ messages: z.array(z.object({ role: z.string(), content: contentSchema.optional() }).passthrough()) })
      .passthrough()
      .parse(r.payload);
    return parsed.messages.map((m) => ({ role: m.role, text: textOf(m.content) }));
  }

  close(): void {
    this.closed = true;
    for (const ask of this.asks) ask.resolve({ status: "error", error: "sidecar stopping" });
    this.asks.clear();
    this.ws?.close();
  }
}

/** The watch as the sidecar's two ports: a reply source for asks and an event source to mirror. */
export function gatewayWatch(o: GatewayWatchOptions): {
  watch: GatewayWatch;
  replies: { waitForReply: GatewayWatch["waitForReply"] };
  events: GatewayEventSource;
} {
  const watch = new GatewayWatch(o);
  return {
    watch,
    replies: { waitForReply: (p) => watch.waitForReply(p) },
    events: { start: (emit) => watch.start(emit), close: () => watch.close(), connected: () => watch.connected },
  };
}
