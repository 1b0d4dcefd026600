import { sealForRecipient } from "../../bus/sealer.js";
import type { NatsConnection } from "@nats-io/nats-core";
import { signerOf } from "../../bus/connection.js";
import { isReplySubjectOf, encodeEnvelope, newEnvelope, type Envelope } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import type { EventPublisher } from "../../bus/events.js";
import type { AgentPort, ReplyTicket, RunReply } from "../../agent/port.js";
import { ReplyWaiter } from "../../agent/reply-waiter.js";

/**
 * Answers asks: once the gateway accepted an ask, waits for that run's final reply (through the
 * gateway's WebSocket) and publishes it to the asker's reply subject. The reply subject must be
 * reply.<asker>.<…>: a sender cannot make this sidecar publish anywhere else.
 */
export class AskResponder {
  private readonly replies: ReplyWaiter;
  answered = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly self: string,
    agent: AgentPort,
    private readonly events: EventPublisher,
    private readonly log: Logger,
    replyTimeoutMs = 10 * 60_000,
  ) {
    this.replies = new ReplyWaiter({ agent, timeoutMs: replyTimeoutMs, log });
  }

  accepted(env: Envelope, runId: string | undefined, ticket: ReplyTicket | undefined): void {
    const started = Date.now();
    const replyTo = env.replyTo;
    if (!replyTo || !isReplySubjectOf(replyTo, env.from)) {
      this.log.warn({ id: env.id, from: env.from }, "ask without a valid reply subject; not answering");
      return;
    }
    this.replies.wait(
      ticket,
      (r) =>
        void this.answer(env, replyTo, runId, r, started).catch((err: unknown) =>
          this.log.error({ id: env.id, err: (err as Error).message }, "could not answer an ask"),
        ),
      { id: env.id, failure: "answer an ask" },
    );
  }

  private async answer(env: Envelope, replyTo: string, runId: string | undefined, r: RunReply, started: number): Promise<void> {
    const status = r.status;
    const text = r.text ?? r.error ?? "";
    // A reply is sealed when its ask was, to the key the ask was sealed with (signed by the asker:
    // a CLI with a one-off key opens its answer too); an ask sent clear is answered clear.
    const unsealed = newEnvelope({ from: this.self, to: env.from, kind: "reply", type: status, body: text, correlationId: env.id });
    const { env: reply } = env.sealed ? await sealForRecipient(this.nc, unsealed, { readerKey: env.sealed.x }) : { env: unsealed };
    // Then signed like every envelope in a secure mesh: the asker checks it came from the identity it asked.
    const signer = signerOf(this.nc);
    this.nc.publish(replyTo, encodeEnvelope(signer ? signer.sign(reply) : reply));
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
    await this.replies.drain(timeoutMs);
  }
}
