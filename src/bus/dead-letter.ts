import type { NatsConnection } from "@nats-io/nats-core";
import { UNKNOWN_SENDER, dlqSubject, isIdentity, newEnvelope, type DeadLetterBody } from "../../subjects/mod.js";
import { publishEnvelope, StreamFullError } from "./publish.js";
import type { Logger } from "../base/log.js";

const MAX_ORIGINAL = 64 * 1024;

/**
 * Stores a dead letter with its reason on dlq.<id>.<source>.<sender> (stream DLQ-<id>), in the
 * sender's own share. `sender` is who the server let publish it (the lane of an inbox subject),
 * else the claimed sender, else "unknown". A full share refuses it: the caller counts and logs that.
 */
export async function deadLetter(
  nc: NatsConnection,
  self: string,
  source: string,
  d: Omit<DeadLetterBody, "original"> & { original: Uint8Array | string; sender?: string | undefined },
): Promise<void> {
  const { sender: given, ...rest } = d;
  const sender = given && isIdentity(given) ? given : UNKNOWN_SENDER;
  const text = typeof d.original === "string" ? d.original : Buffer.from(d.original).toString("utf8");
  const body: DeadLetterBody = {
    ...rest,
    original: text.length > MAX_ORIGINAL ? `${text.slice(0, MAX_ORIGINAL)}…[truncated]` : text,
  };
  const env = newEnvelope({ from: self, to: self, kind: "dead-letter", type: source, body });
  await publishEnvelope(nc, dlqSubject(self, source, sender), env);
}

/** What became of a refused message's evidence: see {@link deadLetterRefusal}. */
export type Refusal = "kept" | "share-full" | "not-stored";

/**
 * Dead-letters a message its consumer refuses (the inbox, the job worker, the hook runner), logs
 * it, and says what became of the evidence: "kept"; "share-full" (the server refused it because
 * the sender's share of DLQ-<self> is full, so what that share holds stays, and the message goes
 * without a copy); "not-stored" (any other failure: the caller leaves the message for redelivery
 * where it can).
 */
export async function deadLetterRefusal(
  nc: NatsConnection,
  self: string,
  source: string,
  m: { subject: string; seq: number; data: Uint8Array },
  o: { reason: string; stream: string; log: Logger; sender?: string | undefined; env?: { id: string; from: string } | undefined },
): Promise<Refusal> {
  const { reason, stream, log, sender, env } = o;
  log.error({ seq: m.seq, id: env?.id, from: env?.from, reason }, `dead-lettered ${source} message`);
  try {
    await deadLetter(nc, self, source, { reason, subject: m.subject, stream, seq: m.seq, original: m.data, sender, ...(env ? { originalId: env.id, from: env.from } : {}) });
    return "kept";
  } catch (err) {
    if (err instanceof StreamFullError) {
      log.error({ seq: m.seq, id: env?.id, sender, err: (err as Error).message }, "dead letter not kept: this sender's share of the dead letters is full; the refused message is dropped");
      return "share-full";
    }
    log.error({ seq: m.seq, err: (err as Error).message }, "could not store the dead letter");
    return "not-stored";
  }
}
