import type { NatsConnection } from "@nats-io/nats-core";
import { encodeEnvelope, eventSubject, newEnvelope, type EventBody, type EventKind } from "../../subjects/mod.js";
import type { Logger } from "../base/log.js";
import { settleWithin } from "../base/backoff.js";
import { signerOf } from "./connection.js";
import { ReplyMux } from "./reply-mux.js";

/**
 * Publishes this identity's lifecycle events (events.<id>.<kind>) to the EVENTS stream, signed
 * with the connection's nkey when it has one (hook rules verify every event before acting on it).
 * Publishing never blocks the caller's work: the JetStream ack is awaited in the background and a
 * failure is logged (monitoring must not stop delivery).
 */
export class EventPublisher {
  private readonly acks: ReplyMux;
  private readonly nc: NatsConnection;
  private inflight = new Set<Promise<unknown>>();
  published = 0;
  failed = 0;

  constructor(
    nc: NatsConnection,
    private readonly self: string,
    private readonly log: Logger,
  ) {
    this.nc = nc;
    // Every event's PubAck on one subscription (no request per event: reply-mux.ts).
    this.acks = new ReplyMux(nc);
  }

  emit<K extends EventKind>(kind: K, body: EventBody<K>): void {
    const unsigned = newEnvelope({ from: this.self, to: "*", kind: "event", type: kind, body });
    // Signed with this identity's nkey (secure mesh), like every other envelope: hook rules verify it.
    const signer = signerOf(this.nc);
    const env = signer ? signer.sign(unsigned) : unsigned;
    const p = this.acks
      .publish(eventSubject(this.self, ...kind.split(".")), encodeEnvelope(env), env.id)
      .then(() => {
        this.published++;
      })
      .catch((err: unknown) => {
        this.failed++;
        this.log.warn({ kind, err: (err as Error).message }, "event not published");
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Waits for events already emitted (used on shutdown). */
  async flush(timeoutMs = 3000): Promise<void> {
    await settleWithin(Promise.allSettled([...this.inflight]), timeoutMs);
  }

  /** Flushes, then stops waiting for acks (what is still unacknowledged is counted as failed). */
  async close(timeoutMs = 3000): Promise<void> {
    await this.flush(timeoutMs);
    this.acks.close();
  }
}
