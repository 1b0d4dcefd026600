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

/** The watch as the sidecar's two ports: a reply source for asks and an event source to mirror. */
export function gatewayWatch(o: GatewayWatchOptions): {
  replies: { waitForReply(p: { sessionKey: string; marker: string; timeoutMs: number }): Promise<RunReply> };
  events: GatewayEventSource;
} {
  const matcher = new ReplyMatcher();
  let mirror: LifecycleMirror | undefined;
  const socket = new GatewaySocket({
    url: wsUrl(o.url),
    token: o.token,
    log: o.log,
    onEvent: (event, payload) => void (matcher.onEvent(event, payload) || mirror?.onEvent(event, payload)),
  });
  return {
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
