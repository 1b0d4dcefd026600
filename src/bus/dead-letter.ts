import type { NatsConnection } from "@nats-io/nats-core";
import { UNKNOWN_SENDER, dlqSubject, isIdentity, newEnvelope, type DeadLetterBody } from "../../subjects/mod.js";
import { publishEnvelope } from "./publish.js";

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
