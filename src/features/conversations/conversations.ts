import type { NatsConnection } from "@nats-io/nats-core";
import { bodyText, defaultConversation, ID_RE, newId, type Envelope } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import type { EventPublisher } from "../../bus/events.js";
import { sendMessage } from "../../bus/publish.js";
import type { AgentPort, ReplyTicket, RunReply } from "../../agent/port.js";
import { ReplyWaiter } from "../../agent/reply-waiter.js";

export interface ConversationOptions {
  nc: NatsConnection;
  self: string;
  agent: AgentPort;
  events: EventPublisher;
  log: Logger;
  /**
   * Automatic forwards allowed in a row (default 1): a peer's message is answered, and that answer
   * is delivered to the peer, but the peer's answer to the answer is not sent back on its own.
   */
  maxHops?: number;
  /** How long to wait for the agent's answer to a peer's message (default 10 min). */
  replyTimeoutMs?: number;
}

/**
 * Agents converse: a peer's message goes into this agent's conversation with that peer, the
 * agent's answer goes back into the peer's conversation with this agent — but never forever. A
 * hop count travels in the envelope; an answer past the limit, an empty one or NO_REPLY is not
 * sent, and each stop is an event with its reason. Also where the answer to what this agent
 * sent natively (a2a:<peer>) goes: to the A2A task waiting for it.
 */
export class Conversations {
  private readonly replies: ReplyWaiter;
  private readonly waiting = new Map<string, { to: string; on: (answer: string) => void }>();
  readonly stats = { forwarded: 0, stopped: 0, sent: 0 };

  constructor(private readonly opts: ConversationOptions) {
    this.replies = new ReplyWaiter({ agent: opts.agent, timeoutMs: opts.replyTimeoutMs ?? 10 * 60_000, log: opts.log });
  }

  get maxHops(): number {
    return this.opts.maxHops ?? 1;
  }

  /** A peer's message was taken from the inbox: if it answers one this agent sent, that task is complete. */
  arrived(env: Envelope): void {
    if (env.kind !== "message" || !env.correlationId) return;
    const w = this.waiting.get(env.correlationId);
    if (w && w.to === env.from) w.on(bodyText(env));
  }

  /** Calls `on` with `to`'s answer to message `id` (a peer's message whose correlationId is `id`) until stopped. */
  expectAnswer(id: string, to: string, on: (answer: string) => void): () => void {
    this.waiting.set(id, { to, on });
    return () => this.waiting.delete(id);
  }

  /** A peer's message reached the gateway; `ticket` says where the agent's answer will come from. */
  accepted(env: Envelope, ticket: ReplyTicket | undefined): void {
    if (!ticket || !this.replies.canRead) return;
    this.replies.wait(ticket, (r) => this.forward(env, r), { id: env.id, failure: "forward an answer" });
  }

  private stop(env: Envelope, reason: string): void {
    this.stats.stopped++;
    this.opts.log.info({ inReplyTo: env.id, to: env.from, reason }, "answer not forwarded");
    this.opts.events.emit("conversation.stopped", { inReplyTo: env.id, to: env.from, reason });
  }

  private async forward(env: Envelope, r: RunReply): Promise<void> {
    if (r.status !== "ok") return this.stop(env, `the turn ended without an answer: ${r.error ?? r.status}`);
    if (r.silent || !r.text?.trim()) return this.stop(env, "the agent did not answer (NO_REPLY or empty)");
    const hops = (env.hops ?? 0) + 1;
    if (hops > this.maxHops) return this.stop(env, `hop limit ${this.maxHops} reached (an answer to an answer is not sent back automatically)`);
    const context = env.context ?? defaultConversation(this.opts.self);
    const sent = await sendMessage(this.opts.nc, { from: this.opts.self, to: env.from, body: r.text, context, hops, correlationId: env.id });
    this.stats.forwarded++;
    this.opts.events.emit("conversation.replied", { id: sent.envelope.id, to: env.from, inReplyTo: env.id, context, hops });
  }

  /**
   * This agent sent `text` to `to` on purpose (the gateway's a2a:<to> → this sidecar's endpoint).
   * Resolves once JetStream stored it, so the gateway hears "accepted" only for what is durable.
   * A message sent on purpose starts a new hop count: the limit bounds automatic answers only.
   */
  async send(to: string, text: string, messageId: string, context: string | undefined): Promise<{ id: string; context: string }> {
    const ctx = context ?? defaultConversation(this.opts.self);
    const id = ID_RE.test(messageId) ? messageId : newId();
    await sendMessage(this.opts.nc, { id, from: this.opts.self, to, body: text, context: ctx, hops: 0 });
    this.stats.sent++;
    this.opts.events.emit("conversation.sent", { id, to, context: ctx, hops: 0 });
    return { id, context: ctx };
  }

  async drain(timeoutMs = 2000): Promise<void> {
    await this.replies.drain(timeoutMs);
  }
}
