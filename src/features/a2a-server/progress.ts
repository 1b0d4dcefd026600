import { openSealed } from "../../bus/sealer.js";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { bodyText, eventSubject, parseEnvelope, repliesStreamName, type Envelope } from "../../../subjects/mod.js";
import { isNoResponders, isNotFound } from "../../base/nats-errors.js";
import type { Logger } from "../../base/log.js";
import type { MeshVerifier } from "../../bus/verify.js";

/** What the mesh said about one message on its way to a peer. */
export type Progress =
  | { kind: "delivered" }
  | { kind: "dead-lettered"; reason: string }
  | { kind: "answered"; text: string }
  | { kind: "answer-failed"; reason: string };

type Listener = (p: Progress) => void;

function answerOf(peer: string, reply: Envelope): Progress {
  const text = bodyText(reply);
  return reply.type === "ok" ? { kind: "answered", text } : { kind: "answer-failed", reason: `${peer}'s turn ended ${reply.type ?? "without a status"}: ${text}` };
}

/**
 * The peer's own lifecycle events about a message this identity stored in its inbox
 * (events.<peer>.message.accepted / .delivered / .dead-lettered, which only <peer> may publish), and the
 * signed reply to an ask (reply.<self>.<id>). One subscription per peer and event kind, shared by
 * every task going there; listeners by envelope id.
 */
export class PeerProgress {
  private readonly subs = new Map<string, Subscription[]>();
  private readonly listeners = new Map<string, Listener>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly self: string,
    private readonly verifier: MeshVerifier,
    private readonly log: Logger,
  ) {}

  /** Calls `on` for every step of message `id` to `peer` until the returned stop is called. */
  watch(peer: string, id: string, on: Listener): () => void {
    this.ensure(peer);
    this.listeners.set(id, on);
    return () => this.listeners.delete(id);
  }

  /**
   * Waits for the answer to an ask on its reply subject (core NATS): the first reply from `peer`
   * for this id that the verifier accepts. Refused ones are logged and skipped.
   */
  replies(peer: string, id: string, replyTo: string): () => void {
    const sub = this.nc.subscribe(replyTo, {
      callback: (err, m) => {
        if (err) return;
        let reply: Envelope;
        try {
          reply = parseEnvelope(m.data);
        } catch {
          return;
        }
        if (reply.kind !== "reply" || reply.correlationId !== id) return;
        void this.accept(peer, reply, m.subject).then((ok) => {
          if (!ok) return;
          sub.unsubscribe();
          this.listeners.get(id)?.(this.answerOf(peer, reply));
        });
      },
    });
    return () => sub.unsubscribe();
  }

  /**
   * The answer to an ask as the broker kept it (REPLIES-<self>, one per reply subject): what a
   * sidecar that was down when it came reads after its restart. Undefined when none is kept.
   */
  async storedReply(peer: string, id: string, replyTo: string): Promise<Progress | undefined> {
    let m;
    try {
      m = await (await jetstreamManager(this.nc)).direct.getMessage(repliesStreamName(this.self), { last_by_subj: replyTo });
    } catch (err) {
      if (isNotFound(err) || isNoResponders(err)) return undefined;
      throw err;
    }
    if (!m) return undefined;
    let reply: Envelope;
    try {
      reply = parseEnvelope(m.data);
    } catch {
      return undefined;
    }
    if (reply.kind !== "reply" || reply.correlationId !== id || reply.from !== peer) return undefined;
    const verdict = await this.verifier.verify(reply, { to: this.self, subject: replyTo, subjectNames: "to", at: m.time });
    return verdict.ok ? this.answerOf(peer, reply) : undefined;
  }

  /** The answer in a verified reply, its sealed body opened with this identity's keys. */
  private answerOf(peer: string, reply: Envelope): Progress {
    const opened = openSealed(this.nc, reply);
    if (!opened.ok) return { kind: "answer-failed", reason: `${peer}'s answer cannot be opened here: ${opened.reason}` };
    return answerOf(peer, opened.env);
  }

  /** An answer delivered some other way (a conversation's answer message, a job's result). */
  tell(id: string, p: Progress): void {
    this.listeners.get(id)?.(p);
  }

  private async accept(peer: string, reply: Envelope, subject: string): Promise<boolean> {
    if (reply.from !== peer) {
      this.log.warn({ from: reply.from, peer }, "A2A: refused a reply from another identity than the one asked");
      return false;
    }
    const verdict = await this.verifier.verify(reply, { to: this.self, subject, subjectNames: "to" });
    if (!verdict.ok) this.log.warn({ from: reply.from, reason: verdict.reason }, "A2A: refused a reply");
    return verdict.ok;
  }

  private ensure(peer: string): void {
    if (this.subs.has(peer)) return;
    const on = (event: "accepted" | "delivered" | "dead-lettered") =>
      this.nc.subscribe(eventSubject(peer, "message", event), {
        callback: (err, m) => {
          if (err) return;
          let env: Envelope;
          try {
            env = parseEnvelope(m.data);
          } catch {
            return;
          }
          const body = env.body as { id?: unknown; from?: unknown; reason?: unknown } | undefined;
          if (typeof body?.id !== "string" || body.from !== this.self) return;
          const l = this.listeners.get(body.id);
          if (!l) return;
          l(event === "dead-lettered" ? { kind: event, reason: typeof body.reason === "string" ? body.reason : "dead-lettered" } : { kind: "delivered" });
        },
      });
    this.subs.set(peer, [on("accepted"), on("delivered"), on("dead-lettered")]);
  }

  close(): void {
    for (const s of this.subs.values()) for (const sub of s) sub.unsubscribe();
    this.subs.clear();
    this.listeners.clear();
  }
}
