import type { NatsConnection } from "@nats-io/nats-core";
import { dlqSubject, newEnvelope, type DeadLetterBody } from "../../subjects/mod.js";
import { publishEnvelope } from "./publish.js";

const MAX_ORIGINAL = 64 * 1024;

/** Stores a dead letter with its reason on dlq.<id>.<source> (stream DLQ). */
export async function deadLetter(
  nc: NatsConnection,
  self: string,
  source: string,
  d: Omit<DeadLetterBody, "original"> & { original: Uint8Array | string },
): Promise<void> {
  const text = typeof d.original === "string" ? d.original : Buffer.from(d.original).toString("utf8");
  const body: DeadLetterBody = {
    ...d,
    original: text.length > MAX_ORIGINAL ? `${text.slice(0, MAX_ORIGINAL)}…[truncated]` : text,
  };
  const env = newEnvelope({ from: self, to: self, kind: "dead-letter", type: source, body });
  await publishEnvelope(nc, dlqSubject(self, source), env);
}
