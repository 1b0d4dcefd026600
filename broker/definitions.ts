import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import {
  ALL_DLQ,
  ALL_EVENTS,
  ALL_INBOXES,
  ALL_JOBS,
  STREAMS,
  hookConsumerName,
  inboxConsumerName,
  inboxSubject,
  jobConsumerName,
  jobNeedsToken,
  jobSubject,
} from "../subjects/mod.js";

/**
 * Streams, consumers and KV buckets of the mesh, as code. `provision()` applies them idempotently.
 * The README ("Broker design") explains each choice.
 */
const DAY = 24 * 60 * 60 * 1000;


/** The peer-alert lease expires this long after its holder stops renewing it. */
export const LEADER_TTL_MS = 15_000;

/** Presence entries expire after this long without a heartbeat (the bucket's TTL). */
export const PRESENCE_TTL_MS = 60_000;

export type StreamDefinition = Pick<
  StreamConfig,
  | "name"
  | "description"
  | "subjects"
  | "retention"
  | "storage"
  | "discard"
  | "max_age"
  | "max_bytes"
  | "max_msg_size"
  | "duplicate_window"
  | "num_replicas"
  | "allow_direct"
>;

export function streamDefinitions(replicas = 1): StreamDefinition[] {
  return [
    {
      // Replayable monitoring: everything any sidecar reports, kept for a week (or 1 GiB).
      // Old events are dropped first when full: monitoring must never block a publisher.
      name: STREAMS.events,
      description: "openclaw-mesh lifecycle events (events.<identity>.<kind>)",
      subjects: [ALL_EVENTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(7 * DAY),
      max_bytes: 1024 ** 3,
      max_msg_size: 1024 * 1024,
      duplicate_window: nanos(2 * 60_000),
      num_replicas: replicas,
      allow_direct: true,
    },
    {
      // Durable inboxes: one stream for every agent.<id>.inbox, one durable consumer per identity.
      // Limits retention (not work-queue) so a message stays readable for `mesh sub --last` and audit
      // after its owner took it; the owner's consumer position, not deletion, marks it delivered.
      // Discard *new* when full: the sender gets an error instead of an old unread message vanishing.
      name: STREAMS.inbox,
      description: "openclaw-mesh durable inboxes (agent.<identity>.inbox)",
      subjects: [ALL_INBOXES],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_age: nanos(14 * DAY),
      max_bytes: 2 * 1024 ** 3,
      max_msg_size: 1024 * 1024,
      duplicate_window: nanos(2 * 60_000),
      num_replicas: replicas,
      allow_direct: true,
    },
    {
      // Jobs: a work queue. A job is removed once a worker acks it; each queue/needs subject has
      // exactly one (shared) durable consumer, so a job is handed to one worker at a time.
      name: STREAMS.jobs,
      description: "openclaw-mesh job queue (jobs.<queue>.<needs>)",
      subjects: [ALL_JOBS],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_age: nanos(7 * DAY),
      max_bytes: 1024 ** 3,
      max_msg_size: 1024 * 1024,
      duplicate_window: nanos(2 * 60_000),
      num_replicas: replicas,
      allow_direct: false,
    },
    {
      // Dead letters with their reason, kept a month for inspection (`mesh sub 'dlq.>' --last 20`).
      name: STREAMS.dlq,
      description: "openclaw-mesh dead letters (dlq.<identity>.<source>)",
      subjects: [ALL_DLQ],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(30 * DAY),
      max_bytes: 512 * 1024 ** 2,
      max_msg_size: 2 * 1024 * 1024,
      duplicate_window: nanos(2 * 60_000),
      num_replicas: replicas,
      allow_direct: true,
    },
  ];
}

/**
 * One durable pull consumer per identity on the INBOX stream. Up to 64 messages in flight: the
 * sidecar delivers one sender's messages one at a time, in stream order (per-sender lanes), and
 * different senders concurrently; it acks after the gateway accepted a message and sends
 * in-progress acks for everything it holds.
 */
export const INBOX_MAX_IN_FLIGHT = 64;
export function inboxConsumer(id: string, ackWaitMs = 30_000): ConsumerDefinition {
  return {
    durable_name: inboxConsumerName(id),
    description: `durable inbox of ${id}`,
    filter_subject: inboxSubject(id),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_ack_pending: INBOX_MAX_IN_FLIGHT,
    max_deliver: -1,
  };
}

export type ConsumerDefinition = Partial<ConsumerConfig> & { durable_name: string };

/** The ack wait of job consumers: in-progress acks extend it while a job runs. */
export const JOB_ACK_WAIT_MS = 30_000;

/**
 * One durable pull consumer per jobs.<queue>.<needs> subject on the JOBS work queue, shared by
 * every worker that can serve it: the broker hands each job to one worker at a time. No delivery
 * limit here: the worker counts attempts against the job's own maxAttempts and dead-letters it.
 */
export function jobConsumer(queue: string, needs: readonly string[], ackWaitMs = JOB_ACK_WAIT_MS): ConsumerDefinition {
  return {
    durable_name: jobConsumerName(queue, jobNeedsToken(needs)),
    description: `jobs of queue ${queue} needing ${jobNeedsToken(needs)}`,
    filter_subject: jobSubject(queue, needs),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(ackWaitMs),
    max_deliver: -1,
  };
}

/**
 * One durable consumer per hook rule of an identity on EVENTS: a sidecar that was down resumes
 * where it stopped (within the stream's retention); a new rule starts at "now"; one event at a
 * time, so a rule's actions run in event order.
 */
export function hookConsumer(id: string, rule: string, filter: string): ConsumerDefinition {
  return {
    durable_name: hookConsumerName(id, rule),
    description: `hook rule ${rule} of ${id}`,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: nanos(30_000),
    max_ack_pending: 1,
    max_deliver: -1,
  };
}
