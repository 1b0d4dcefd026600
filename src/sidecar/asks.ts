import type { NatsConnection } from "@nats-io/nats-core";
import { checkSubject, encodeEnvelope, newEnvelope, type Envelope } from "../../subjects/mod.js";
import type { Logger } from "../log.js";
import { within } from "../backoff.js";
import type { EventPublisher } from "./events.js";
import { askMarker, type GatewayPort } from "./types.js";

/**
 * Answers asks: once the gateway accepted an ask, waits for that run's final reply (through the
 * gateway's WebSocket) and publishes it to the asker's reply subject. The reply subject must be
 * reply.<asker>.<…>: a sender cannot make this sidecar publish anywhere else.
 */
export class AskResponder {
  private pending = new Set<Promise<void>>();
  answered = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly self: string,
    private readonly gateway: GatewayPort,
    private readonly events: EventPublisher,
    private readonly log: Logger,
    private readonly replyTimeoutMs = 10 * 60_000,
  ) {}

  accepted(env: Envelope, runId: string | undefined, sessionKey: string): void {
    const p = this.answer(env, runId, sessionKey).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async answer(env: Envelope, runId: string | undefined, sessionKey: string): Promise<void> {
    const started = Date.now();
    const replyTo = env.replyTo;
    if (!replyTo || !replyTo.startsWith(`reply.${env.from}.`)) {
      this.log.warn({ id: env.id, from: env.from }, "ask without a valid reply subject; not answering");
      return;
    }
    try {
      checkSubject(replyTo, { wildcards: false });
    } catch {
      return;
    }
    let status: "ok" | "error" | "timeout";
    let text: string;
    if (!this.gateway.waitForReply) {
      status = "error";
      text = "this sidecar cannot read replies (no gateway token configured)";
    } else {
      const r = await this.gateway.waitForReply({ sessionKey, marker: askMarker(env.id), timeoutMs: this.replyTimeoutMs });
      status = r.status;
      text = r.text ?? r.error ?? "";
    }
    const reply = newEnvelope({ from: this.self, to: env.from, kind: "reply", type: status, body: text, correlationId: env.id });
    this.nc.publish(replyTo, encodeEnvelope(reply));
    this.answered++;
    this.events.emit("ask.answered", {
      id: env.id,
      from: env.from,
      ...(runId ? { runId } : {}),
      status,
      latencyMs: Date.now() - started,
    });
  }

  async drain(timeoutMs = 2000): Promise<void> {
    await within(Promise.allSettled([...this.pending]), timeoutMs);
  }
}
