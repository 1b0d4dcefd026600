import { identity, isIdentity, token } from "./identity.js";

/**
 * Every stream, consumer, bucket and client-inbox name of the mesh. broker/ defines what they
 * are (limits, policies, permissions); everything else refers to them through these names.
 *
 *   stream  EVENTS        events.>             (shared, read by everyone)
 *   stream  JOBS          jobs.>               consumer jobs-<queue>-<needs>  (shared by the workers allowed to run them)
 *   stream  INBOX-<id>    agent.<id>.inbox     consumer inbox-<id>            (one stream per identity)
 *   stream  DLQ-<id>      dlq.<id>.>                                          (one stream per identity)
 *   stream  HOOKS-<id>    sources EVENTS       consumer hook-<id>-<rule>      (one stream per identity)
 *   stream  HISTORY-<id>  sources EVENTS (events.<id>.>)                      (one stream per identity)
 *   bucket  mesh-jobs-<id>  keys sub.<job> (jobs it submitted), run.<job> (jobs it ran)  (one bucket per identity)
 *   request replies on _INBOX_<id>.>    (the only client inbox an identity may subscribe to)
 *
 * Per-identity streams are what lets the broker keep identities apart on nats-server 2.9: a
 * permission names a stream, so "only your own inbox, dead letters and hook consumers" is a list
 * of exact API subjects, and each stream's byte limit is reserved for its identity alone.
 */
export const STREAMS = {
  events: "EVENTS",
  jobs: "JOBS",
} as const;

/** The durable inbox stream of one identity (agent.<id>.inbox). */
export function inboxStreamName(id: string): string {
  return `INBOX-${identity(id)}`;
}

/** The dead-letter stream of one identity (dlq.<id>.>). */
export function dlqStreamName(id: string): string {
  return `DLQ-${identity(id)}`;
}

/** One identity's copy of EVENTS, where its hook-rule consumers live (nobody else may touch them). */
export function hooksStreamName(id: string): string {
  return `HOOKS-${identity(id)}`;
}

/**
 * One identity's own events, copied from EVENTS (events.<id>.>) and bounded per identity: another
 * identity's flood of EVENTS cannot push them out. Read by its owner (and the admin).
 */
export function historyStreamName(id: string): string {
  return `HISTORY-${identity(id)}`;
}

/** The answers to one identity's asks (reply.<id>.>), kept so an answer waits for an asker that was away. */
export function repliesStreamName(id: string): string {
  return `REPLIES-${identity(id)}`;
}

/** The identity whose per-identity stream this is (INBOX-<id>, DLQ-<id>, HOOKS-<id>, HISTORY-<id>, REPLIES-<id>), if any. */
export function streamOwner(name: string): string | undefined {
  const m = /^(?:INBOX|DLQ|HOOKS|HISTORY|REPLIES)-(.+)$/.exec(name);
  return m && isIdentity(m[1]) ? m[1] : undefined;
}

/** One identity's job records: only it may write them, everyone may read them by key. */
export function jobBucketName(id: string): string {
  return `mesh-jobs-${identity(id)}`;
}

/** The identity whose job bucket this is (mesh-jobs-<id>, or its stream KV_mesh-jobs-<id>). */
export function jobBucketOwner(name: string): string | undefined {
  const m = /^(?:KV_)?mesh-jobs-(.+)$/.exec(name);
  return m && isIdentity(m[1]) ? m[1] : undefined;
}

/** One identity's A2A tasks (its sidecar's A2A server): only it writes and reads them. */
export function a2aBucketName(id: string): string {
  return `mesh-a2a-${identity(id)}`;
}

/** The identity whose A2A task bucket this is (mesh-a2a-<id>, or its stream KV_mesh-a2a-<id>). */
export function a2aBucketOwner(name: string): string | undefined {
  const m = /^(?:KV_)?mesh-a2a-(.+)$/.exec(name);
  return m && isIdentity(m[1]) ? m[1] : undefined;
}

export const BUCKETS = {
  presence: "mesh-presence",
  leader: "mesh-leader",
  alerts: "mesh-alerts",
  /** Identity → public nkey (written by the admin, read by every sidecar to verify senders). */
  identities: "mesh-identities",
  /** Identity → its curve public key for sealed bodies, signed by it (each identity writes only its own key). */
  xkeys: "mesh-xkeys",
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

/**
 * Leaf mode (README "Offline-first Macs"): every Mac runs a leaf nats-server with its own JetStream
 * domain; the hub's domain is `hub`. A stream of another domain is reached through that domain's
 * API prefix ($JS.<domain>.API).
 *
 *   leaf   OUTBOX-<mac>   agent.*.inbox.*   the mail this Mac's clients send (dedup here, once; per-sender limit here)
 *   leaf   EVENTS-<mac>   events.>          the events this Mac's clients publish (oldest dropped, never refused)
 *   leaf   INBOX-<id>     sources OUTBOX-<mac> (same-Mac mail) and the hub's INBOX-<id>
 *   hub    OUTBOX-<mac>   mirror of the Mac's OUTBOX-<mac>
 *   hub    INBOX-<id>     sources the other Macs' mirrors (and keeps its subjects for direct clients)
 *   hub    EVENTS         sources every Mac's EVENTS-<mac> (and keeps its subjects)
 */
export const HUB_DOMAIN = "hub";
/** How long a leaf waits for the hub's JetStream API before it calls the hub unreachable (a lost link is silent). */
export const HUB_TIMEOUT_MS = 1500;

/** The JetStream domain of a Mac's leaf server. */
export function leafDomain(mac: string): string {
  return `mac-${identity(mac, "Mac name")}`;
}

/** The JetStream API prefix of a domain, for a source or mirror of a stream of that domain. */
export function jsApiPrefix(domain: string): string {
  return `$JS.${domain}.API`;
}

/** A Mac's outbox: on its leaf, and the hub's mirror of it under the same name. */
export function outboxStreamName(mac: string): string {
  return `OUTBOX-${identity(mac, "Mac name")}`;
}

/** A Mac's events on its leaf, sourced into the hub's EVENTS. */
export function macEventsStreamName(mac: string): string {
  return `EVENTS-${identity(mac, "Mac name")}`;
}

/** The user a Mac's leaf server logs in to the hub as. */
export function leafUserName(mac: string): string {
  return `leaf-${identity(mac, "Mac name")}`;
}
