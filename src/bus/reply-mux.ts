import { createInbox, errors, headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { JetStreamApiError, type ApiError } from "@nats-io/jetstream";

/**
 * Requests whose replies all come back on one subscription, as nats.go's PublishAsync does:
 * per request a reply subject and a map entry. nats.js's `request` (and so `js.publish` and every
 * JetStreamManager call) builds an Error for its stack, a timer and a subscription entry per call,
 * which was about a third of the sidecar's CPU per delivered message (a signed event and an inbox
 * delete each). For the sidecar's hot path only: everything else keeps nats.js's own calls.
 *
 * Failures are nats.js's own error classes: NoRespondersError (nothing took the subject: no
 * stream, or no JetStream), TimeoutError, JetStreamApiError (the server's error answer).
 */
export class ReplyMux {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private next = 0;
  private readonly waiting = new Map<string, { settle: (m: Msg | Error) => void; at: number; subject: string }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 10_000,
  ) {
    // The connection's inbox prefix (a secure mesh's identities may subscribe only under their own).
    this.prefix = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (err, m) => (err ? this.failAll(err) : this.answer(m)) });
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, timeoutMs)).unref();
  }

  /** Publishes with a reply subject of this mux; resolves with the reply. */
  request(subject: string, data: Uint8Array, msgId?: string): Promise<Msg> {
    const token = (++this.next).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      this.waiting.set(token, { settle: (m) => (m instanceof Error ? reject(m) : resolve(m)), at: Date.now(), subject });
      try {
        const h = msgId ? natsHeaders() : undefined;
        h?.set("Nats-Msg-Id", msgId!);
        this.nc.publish(subject, data, { reply: `${this.prefix}.${token}`, ...(h ? { headers: h } : {}) });
      } catch (err) {
        this.waiting.delete(token);
        reject(err as Error);
      }
    });
  }

  /** A JetStream publish: resolves with the stream's sequence, or rejects with the server's error. */
  async publish(subject: string, data: Uint8Array, msgId: string): Promise<{ stream: string; seq: number; duplicate: boolean }> {
    const r = jsonReply(await this.request(subject, data, msgId)) as { stream?: string; seq?: number; duplicate?: boolean };
    if (typeof r.stream !== "string" || typeof r.seq !== "number") throw new JetStreamApiError({ code: 500, err_code: 0, description: "invalid ack response" });
    return { stream: r.stream, seq: r.seq, duplicate: r.duplicate === true };
  }

  /** A JetStream API call (`$JS.API.…`) with a JSON body: resolves with the answer, or rejects with the server's error. */
  async api(subject: string, body: unknown): Promise<unknown> {
    return jsonReply(await this.request(subject, new TextEncoder().encode(JSON.stringify(body))));
  }

  close(): void {
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    this.failAll(new errors.ClosedConnectionError());
  }

  private answer(m: Msg): void {
    const token = m.subject.slice(this.prefix.length + 1);
    const w = this.waiting.get(token);
    if (!w) return;
    this.waiting.delete(token);
    // A 503 status with no body: no one subscribes to the subject (no stream captures it).
    w.settle(m.headers?.code === 503 && m.data.length === 0 ? new errors.NoRespondersError(w.subject) : m);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.timeoutMs;
    for (const [token, w] of this.waiting) {
      if (w.at > cutoff) continue;
      this.waiting.delete(token);
      w.settle(new errors.TimeoutError());
    }
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.values()) w.settle(err);
    this.waiting.clear();
  }
}

/** A JetStream reply's JSON; its `error` (the server's code and description) thrown as JetStreamApiError. */
function jsonReply(m: Msg): unknown {
  let r: unknown;
  try {
    r = m.json();
  } catch {
    throw new JetStreamApiError({ code: 500, err_code: 0, description: "the reply is not JSON" });
  }
  const error = (r as { error?: ApiError } | null)?.error;
  if (error) throw new JetStreamApiError(error);
  return r;
}

/** Deletes a stored message (`STREAM.MSG.DELETE`, not erased), in `domain`'s JetStream when given (the hub's, from a leaf). */
export async function deleteStored(mux: ReplyMux, stream: string, seq: number, domain?: string): Promise<void> {
  await mux.api(`${domain ? `$JS.${domain}.API` : "$JS.API"}.STREAM.MSG.DELETE.${stream}`, { seq, no_erase: true });
}
