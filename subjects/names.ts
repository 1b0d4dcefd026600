import { identity, isIdentity, token } from "./identity.js";

/**
 * Every stream, consumer, bucket and client-inbox name of the mesh. broker/ defines what they
 * are (limits, policies, permissions); everything else refers to them through these names.
 *
 *   stream  INBOX   agent.*.inbox       consumer inbox-<id>              (one per identity)
 *   stream  EVENTS  events.>            consumer hook-<id>-<rule>        (one per hook rule)
 *   stream  JOBS    jobs.>              consumer jobs-<queue>-<needs>    (shared by all workers)
 *   stream  DLQ     dlq.>
 *   request replies on _INBOX_<id>.>    (the only client inbox an identity may subscribe to)
 */
export const STREAMS = {
  events: "EVENTS",
  inbox: "INBOX",
  jobs: "JOBS",
  dlq: "DLQ",
} as const;

export const BUCKETS = {
  presence: "mesh-presence",
  jobs: "mesh-jobs",
  leader: "mesh-leader",
  alerts: "mesh-alerts",
  /** Identity → public nkey (written by the admin, read by every sidecar to verify senders). */
  identities: "mesh-identities",
} as const;

/** The durable consumer of one identity's inbox. */
export function inboxConsumerName(id: string): string {
  return `inbox-${identity(id)}`;
}

/** The identity whose inbox a consumer name is for (the inverse of inboxConsumerName). */
export function inboxConsumerOwner(name: string): string | undefined {
  const id = name.startsWith("inbox-") ? name.slice("inbox-".length) : undefined;
  return id && isIdentity(id) ? id : undefined;
}

/** The durable consumer of one hook rule of one identity on EVENTS. */
export function hookConsumerName(id: string, rule: string): string {
  return `hook-${identity(id)}-${token(rule, "rule name")}`;
}

/** The durable consumer shared by all workers for one jobs.<queue>.<needs> subject. */
export function jobConsumerName(queue: string, needsToken: string): string {
  return `jobs-${token(queue, "queue")}-${needsToken.replace(/\+/g, "_")}`;
}

/** The request-reply inbox prefix of an identity's connections (nats.js `inboxPrefix`). */
export function clientInboxPrefix(id: string): string {
  return `_INBOX_${identity(id)}`;
}

/** The NATS subject a KV bucket key is written on ($KV.<bucket>.<key>). */
export function kvSubject(bucket: string, key: string): string {
  return `$KV.${bucket}.${key}`;
}
