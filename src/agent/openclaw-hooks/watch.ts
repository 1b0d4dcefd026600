import { z } from "zod";
import type { Logger } from "../../base/log.js";
import type { GatewayEventSource, RunReply } from "../port.js";
import { wsUrl } from "../openclaw-ws.js";
import { LifecycleMirror, type Emit } from "./lifecycle.js";
import { ReplyMatcher } from "./replies.js";
import { GatewaySocket } from "./socket.js";

/**
 * The sidecar's read-only client of the OpenClaw gateway's WebSocket, in three parts: the
 * transport (socket.ts: connect, handshake, reconnect), lifecycle mirroring (lifecycle.ts: runs,
 * health, shutdown as mesh events) and reply matching (replies.ts: the final reply of a turn the
 * hooks bridge started). This file wires them and offers them as the sidecar's two ports.
 */
export interface GatewayWatchOptions {
  url: string;
  token: string;
  log: Logger;
}

/**
 * The events that end a turn, with its session: `sessions.changed` with phase "end" (every run,
 * A2A channel turns included: OpenClaw 2026.9.6 sends no `chat` events for those) and a `chat`
 * event in a final state (webchat and hook turns).
 */
const runEndSchema = z.object({ sessionKey: z.string(), phase: z.literal("end") }).passthrough();
/** A run starting in a session: `sessions.changed` with phase "start" (A2A channel turns included). */
const runStartSchema = z.object({ sessionKey: z.string(), phase: z.literal("start") }).passthrough();
const chatEndSchema = z.object({ sessionKey: z.string(), state: z.enum(["final", "error", "aborted"]) }).passthrough();

function turnEnded(event: string, payload: unknown): string | undefined {
  const parsed = event === "sessions.changed" ? runEndSchema.safeParse(payload) : event === "chat" ? chatEndSchema.safeParse(payload) : undefined;
  return parsed?.success ? parsed.data.sessionKey : undefined;
}

function turnStarted(event: string, payload: unknown): string | undefined {
  const parsed = event === "sessions.changed" ? runStartSchema.safeParse(payload) : undefined;
  return parsed?.success ? parsed.data.sessionKey : undefined;
}

/** The watch as the sidecar's ports: a reply source for asks, an event source to mirror, and turn ends. */
export function gatewayWatch(o: GatewayWatchOptions): {
  replies: { waitForReply(p: { sessionKey: string; marker: string; timeoutMs: number }): Promise<RunReply> };
  events: GatewayEventSource;
  /** Every turn the gateway ends, by session key (what the A2A bridge waits for instead of polling). */
  onTurnEnd(listener: (sessionKey: string) => void): () => void;
  /** Every run the gateway starts, by session key (how the A2A bridge knows a blocking send was taken). */
  onTurnStart(listener: (sessionKey: string) => void): () => void;
} {
  const matcher = new ReplyMatcher();
  const turnEnds = new Set<(sessionKey: string) => void>();
  const turnStarts = new Set<(sessionKey: string) => void>();
  let mirror: LifecycleMirror | undefined;
  const socket = new GatewaySocket({
    url: wsUrl(o.url),
    token: o.token,
    log: o.log,
    onEvent: (event, payload) => {
      const ended = turnEnds.size ? turnEnded(event, payload) : undefined;
      if (ended) for (const l of [...turnEnds]) l(ended);
      const started = turnStarts.size ? turnStarted(event, payload) : undefined;
      if (started) for (const l of [...turnStarts]) l(started);
      void (matcher.onEvent(event, payload) || mirror?.onEvent(event, payload));
    },
  });
  return {
    onTurnEnd: (listener) => {
      turnEnds.add(listener);
      return () => void turnEnds.delete(listener);
    },
    onTurnStart: (listener) => {
      turnStarts.add(listener);
      return () => void turnStarts.delete(listener);
    },
    replies: { waitForReply: (p) => matcher.waitFor(p) },
    events: {
      start: (emit?: Emit) => {
        if (emit) mirror = new LifecycleMirror(emit);
        socket.open();
      },
      close: () => {
        matcher.close();
        socket.close();
      },
      connected: () => socket.connected,
    },
  };
}
