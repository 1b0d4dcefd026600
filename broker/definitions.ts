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
  ALL_EVENTS,
  ALL_JOBS,
  STREAMS,
  dlqOf,
  dlqStreamName,
  hooksStreamName,
  historyStreamName,
  eventsOf,
  inboxStreamName,
  a2aBucketName,
  repliesStreamName,
  repliesTo,
  jobBucketName,
  hookConsumerName,
  inboxConsumerName,
  inboxOf,
  jobConsumerName,
  jobNeedsToken,
  jobSubject,
} from "../subjects/mod.js";

/**
 * Streams, consumers and KV buckets of the mesh, as code. `provision()` applies them idempotently.
 * The README ("Broker design") explains each choice. Over 300 lines on purpose: every limit of the
 * broker (sizes, shares, ages, counts) is in this one file, next to the stream it bounds, so that
 * the bounds an identity can reach are read in one place.
 */
const DAY = 24 * 60 * 60 * 1000;

/** The peer-alert lease expires this long after its holder stops renewing it. */
export const LEADER_TTL_MS = 15_000;

/** Presence entries expire after this long without a heartbeat (the bucket's TTL). */
export const PRESENCE_TTL_MS = 60_000;

export type StreamDefinition = Partial<StreamConfig> &
  Pick<StreamConfig, "name" | "description" | "retention" | "storage" | "discard" | "max_age" | "max_bytes" | "max_msg_size" | "max_consumers" | "num_replicas">;

/**
 * What one identity's streams may hold. Counts, not reserved bytes: a stream's max_bytes is reserved
 * against the broker's store when the stream is made, so byte limits per identity cap the number of
 * identities (about 110 at 72 MiB each on a 10 GB store). Messages per sender × the largest message
 * bound what one sender can make the broker keep for another identity, without reserving it.
 */
export interface IdentityLimits {
  /**
   * Unread messages one sender may have in this inbox (default 1 000, enforced by the server per
   * lane subject, discard new): a full share refuses that sender alone; every other sender still gets in.
   */
  inboxPerSender: number;
  /** Messages in the inbox from all senders together (default 100 000). */
  inboxMessages: number;
  /**
   * Dead letters kept per sender and source (default 1 000, discard new per subject): what one
   * sender causes can never push out the evidence of what it or anyone else did earlier.
   */
  deadLettersPerSender: number;
  /** Job record versions (default 4 096; two per key): the jobs it submitted and the runs it made. */
  jobRecords: number;
  /** A2A task entries (default 4 096: its tasks and the messageIds that made them; as many answers in REPLIES-<id>). */
  a2aEntries: number;
}

/** The largest job record version (a 256 KiB task, or a result cut to JOB_RESULT_MAX, plus its fields). */
export const JOB_RECORD_MAX_BYTES = 320 * 1024;
/** A result longer than this is cut (with a note) so that its record fits. */
export const JOB_RESULT_MAX = 256 * 1024;
/** Job records expire this long after their last version (a finished job's record is kept a month). */
export const JOB_RECORD_TTL_MS = 30 * DAY;
/** The largest A2A task version (a 64 KiB question, an answer cut to A2A_ANSWER_MAX, status and history). */
export const A2A_TASK_MAX_BYTES = 320 * 1024;
/** An answer longer than this is cut (with a note) in the stored task so that it fits. */
export const A2A_ANSWER_MAX = 192 * 1024;
/** The same for a sealed task: sealing stores it as base64 (a third larger), so its answer is cut shorter to fit. */
export const A2A_SEALED_ANSWER_MAX = 128 * 1024;
/** A2A tasks expire this long after their last change. */
export const A2A_TASK_TTL_MS = 14 * DAY;
export const DEFAULT_IDENTITY_LIMITS: IdentityLimits = { inboxPerSender: 1000, inboxMessages: 100_000, deadLettersPerSender: 1000, jobRecords: 4096, a2aEntries: 4096 };

/** The largest inbox message (a 512 KiB text in its envelope, signed). */
export const INBOX_MAX_MSG_BYTES = 1024 * 1024;
/** The largest dead letter (its reason, and the original cut to 64 KiB). */
export const DEAD_LETTER_MAX_BYTES = 128 * 1024;
/** Events an identity's hook-rule copy keeps (a day at most); counted, not reserved. */
export const HOOKS_MAX_MSGS = 50_000;
/** Events per subject in an identity's hook-rule copy: one subject's flood rolls over only that subject. */
export const HOOKS_MAX_PER_SUBJECT = 1000;
/** An identity's own events its history keeps (HISTORY-<id>, a week at most); counted, not reserved. */
export const HISTORY_MAX_MSGS = 20_000;

/** The streams everyone shares: EVENTS (read by all, written per identity) and the JOBS work queue. */
export function streamDefinitions(replicas = 1): StreamDefinition[] {
  return [
    {
      // Replayable monitoring: everything any sidecar reports, kept for a week (or 1 GiB).
      // Old events are dropped first when full: monitoring must never block a publisher. At most
      // 10 000 per subject, so one identity's flood of one kind rolls over only its own history.
      // A flood of many kinds does push others' events out of this shared history: each identity's
      // own events are also kept in its HISTORY-<id>, which only its own events fill. Identities
      // create no consumer here (they read it by direct get); the consumers are the broker's
      // sources (one per HISTORY-<id> and HOOKS-<id>), so their number grows with the identities.
      name: STREAMS.events,
      description: "openclaw-mesh lifecycle events (events.<identity>.<kind>)",
      subjects: [ALL_EVENTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(7 * DAY),
      max_bytes: 1024 ** 3,
      max_msg_size: 1024 * 1024,
      max_msgs_per_subject: 10_000,
      max_consumers: -1,
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
      max_consumers: 512,
      duplicate_window: nanos(2 * 60_000),
      num_replicas: replicas,
      allow_direct: false,
    },
  ];
}

/** The streams of one identity: its inbox, its dead letters, its copy of EVENTS for hook rules. */
export function identityStreamDefinitions(id: string, replicas = 1, limits: IdentityLimits = DEFAULT_IDENTITY_LIMITS): StreamDefinition[] {
  return [
    {
      // Its durable inbox. Limits retention (not work-queue: the admin's replay consumers read it
      // too); the owner's sidecar deletes each message it is done with (after the ack), so the
      // per-sender share below counts what waits, not everything sent within max_age.
      // Discard *new* when full: the sender gets an error instead of an old unread message vanishing.
      // One subject per sender (agent.<id>.inbox.<from>, the server checks <from>) and a limit per
      // subject: a sender that fills its share is refused alone ("maximum messages per subject
      // exceeded"); every other sender's share stays free.
      name: inboxStreamName(id),
      description: `openclaw-mesh durable inbox of ${id} (${inboxOf(id)})`,
      subjects: [inboxOf(id)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
      max_age: nanos(14 * DAY),
      max_bytes: -1,
      max_msgs: limits.inboxMessages,
      max_msgs_per_subject: limits.inboxPerSender,
      max_msg_size: INBOX_MAX_MSG_BYTES,
      // Its durable consumer plus the admin's short-lived replay consumers.
      max_consumers: 32,
      duplicate_window: nanos(2 * 60_000),
      num_replicas: replicas,
      allow_direct: true,
    },
    {
      // Its dead letters with their reason, kept a month (`mesh sub 'dlq.<id>.>' --last 20`).
      // Only the identity (and the admin) can read them. One subject per source and sender
      // (dlq.<id>.<source>.<sender>), each with its own quota, discard *new*: a flood from one
      // sender fills only its own share, and never pushes out evidence already kept (its own
      // earlier forgeries included). Past the quota the sidecar counts and logs what it could not keep.
      name: dlqStreamName(id),
      description: `openclaw-mesh dead letters of ${id} (dlq.${id}.<source>.<sender>)`,
      subjects: [dlqOf(id)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
      max_age: nanos(30 * DAY),
      max_bytes: -1,
      max_msgs_per_subject: limits.deadLettersPerSender,
      max_msg_size: DEAD_LETTER_MAX_BYTES,
      max_consumers: 32,
      duplicate_window: nanos(2 * 60_000),
      num_replicas: replicas,
      allow_direct: false,
    },
    {
      // Its own events (events.<id>.>), copied from EVENTS by the server, kept a week: replaying
      // its own history (`mesh sub 'events.<id>.>' --since 1d`) reads this, where no other
      // identity's flood reaches. Only its own events fill it: 10 000 per subject, HISTORY_MAX_MSGS
      // in all (counted, not reserved), oldest first.
      name: historyStreamName(id),
      description: `openclaw-mesh history of ${id}'s own events (${eventsOf(id)}, from EVENTS)`,
      sources: [{ name: STREAMS.events, filter_subject: eventsOf(id) }],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(7 * DAY),
      max_bytes: -1,
      max_msgs: HISTORY_MAX_MSGS,
      max_msgs_per_subject: 10_000,
      max_msg_size: 1024 * 1024,
      max_consumers: 8,
      num_replicas: replicas,
      allow_direct: true,
    },
    {
      // Its own copy of EVENTS (a source, filled by the server): its hook-rule consumers live
      // here, where no other identity can delete or re-create them. A day of events at most, counted
      // (not reserved bytes), and a cap per subject so a flood of one kind rolls over only itself.
      name: hooksStreamName(id),
      description: `openclaw-mesh events for the hook rules of ${id}`,
      sources: [{ name: STREAMS.events }],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(DAY),
      max_bytes: -1,
      max_msgs: HOOKS_MAX_MSGS,
      max_msgs_per_subject: HOOKS_MAX_PER_SUBJECT,
      max_msg_size: 1024 * 1024,
      max_consumers: 64,
      num_replicas: replicas,
      allow_direct: false,
    },
    {
      // Its job records, a KV bucket: sub.<job> for jobs it submitted, run.<job> for runs it made.
      // Only this identity may write it, so no one else can rewrite, cancel, roll back or fill its
      // records; everyone reads them by key. Full → its own submits are refused (discard new),
      // nobody else's. Two versions per key: the one a new version replaces stays readable.
      // Counted, not reserved: jobRecords × JOB_RECORD_MAX_BYTES bounds it.
      name: `KV_${jobBucketName(id)}`,
      description: `openclaw-mesh job records of ${id}`,
      subjects: [`$KV.${jobBucketName(id)}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_age: nanos(JOB_RECORD_TTL_MS),
      max_bytes: -1,
      max_msgs: limits.jobRecords,
      max_msg_size: JOB_RECORD_MAX_BYTES,
      max_msgs_per_subject: 2,
      max_consumers: 32,
      allow_rollup_hdrs: true,
      deny_delete: true,
      duplicate_window: nanos(2 * 60_000),
      num_replicas: replicas,
      allow_direct: true,
    },
    {
      // The answers to its asks (reply.<id>.<correlation>, published on core NATS by the identity
      // asked), kept two weeks: an A2A task whose sidecar was down when its answer came reads it
      // here (features/a2a-server). Only this identity reads it; anyone may publish a reply subject
      // (the reader verifies the signature), so one per subject and the oldest go first when full.
      name: repliesStreamName(id),
      description: `openclaw-mesh answers to the asks of ${id} (${repliesTo(id)})`,
      subjects: [repliesTo(id)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(A2A_TASK_TTL_MS),
      max_bytes: -1,
      max_msgs: limits.a2aEntries,
      max_msg_size: 1024 * 1024,
      max_msgs_per_subject: 1,
      max_consumers: 8,
      num_replicas: replicas,
      allow_direct: true,
    },
    {
      // Its A2A tasks, a KV bucket (features/a2a-server/task-store.ts): task.<id> per task,
      // msg.<hash> from a client's messageId to its task. Only this identity writes or reads it:
      // a task holds the question and the answer. Full → new tasks are refused with the reason
      // (discard new), nothing in flight vanishes; a task expires 14 days after its last change.
      name: `KV_${a2aBucketName(id)}`,
      description: `openclaw-mesh A2A tasks of ${id}`,
      subjects: [`$KV.${a2aBucketName(id)}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_age: nanos(A2A_TASK_TTL_MS),
      max_bytes: -1,
      max_msgs: limits.a2aEntries,
      max_msg_size: A2A_TASK_MAX_BYTES,
      max_msgs_per_subject: 1,
      max_consumers: 16,
      allow_rollup_hdrs: true,
      deny_delete: false,
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
/** Unfiltered: every lane of the inbox (and what a stream from before lanes still holds on agent.<id>.inbox). */
export function inboxConsumer(id: string, ackWaitMs = 30_000): ConsumerDefinition {
  return {
    durable_name: inboxConsumerName(id),
    description: `durable inbox of ${id}`,
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
