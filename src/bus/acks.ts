import type { JsMsg } from "@nats-io/jetstream";

/**
 * In-progress acks and naks are fire-and-forget; on a closed connection they throw. A timer that
 * keeps a claim alive must never take the process down for that: the broker redelivers anyway.
 */
export function safeWorking(m: JsMsg): void {
  try {
    m.working();
  } catch {
    /* connection gone: the broker will redeliver after the ack wait */
  }
}

export function safeNak(m: JsMsg, delayMs?: number): void {
  try {
    m.nak(delayMs);
  } catch {
    /* as above */
  }
}
