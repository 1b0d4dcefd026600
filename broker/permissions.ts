import { ALL_EVENTS, ALL_JOBS, inboxesFrom, ALL_REPLIES, MAX_CAPABILITIES, dlqOf, eventsOf, identity, jobNeedsToken, jobSubject, repliesTo } from "../subjects/mod.js";
import {
  BUCKETS,
  a2aBucketName,
  STREAMS,
  clientInboxPrefix,
  dlqStreamName,
  hooksStreamName,
  historyStreamName,
  inboxConsumerName,
  inboxStreamName,
  jobBucketName,
  jobConsumerName,
  kvSubject,
  repliesStreamName,
} from "../subjects/names.js";
import { JOB_KEY_KINDS } from "../subjects/job-rules.js";

/**
 * Least privilege for one identity, as nats-server permissions. Every JetStream API subject listed
 * is one a sidecar or the CLI of that identity uses; nothing here lets it read another identity's
 * inbox, touch another's inbox consumer, purge or delete a stream, or delete a bucket.
 */
export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/**
 * Reading a KV bucket: its info, its values by key and by sequence (direct get). Consumers (nats.js
 * lists keys and watches with them) only on the identity's own buckets: on a shared bucket a
 * consumer's name and expiry would be the client's to choose on nats-server 2.9, so an identity
 * reads those by direct get (src/bus/kv-read.ts) and holds nothing there.
 */
const kvRead = (bucket: string, o: { consumers: boolean } = { consumers: false }): string[] => [
  `$JS.API.STREAM.INFO.KV_${bucket}`,
  `$JS.API.DIRECT.GET.KV_${bucket}`,
  `$JS.API.DIRECT.GET.KV_${bucket}.>`,
  `$JS.API.STREAM.MSG.GET.KV_${bucket}`,
  ...(o.consumers
    ? [
        // watch / keys: an ephemeral ordered consumer
        `$JS.API.CONSUMER.CREATE.KV_${bucket}.>`,
        `$JS.API.CONSUMER.CREATE.KV_${bucket}`,
        `$JS.API.CONSUMER.DELETE.KV_${bucket}.*`,
        `$JS.API.CONSUMER.INFO.KV_${bucket}.*`,
        `$JS.API.CONSUMER.MSG.NEXT.KV_${bucket}.*`,
      ]
    : []),
];


/**
 * What the admin granted an identity beyond messaging (`mesh broker add-identity --capabilities
 * --queues --alerts`): which job consumers it may pull from, and whether it may hold the
 * peer-alert lease and record alert transitions.
 */
export interface Grants {
  capabilities?: readonly string[];
  queues?: readonly string[];
  alerts?: boolean;
  /**
   * Whether it has its own copy of EVENTS for hook rules (HOOKS-<id>; default yes). Each copy holds
   * every event of the mesh, so a mesh of many identities adds the ones without hook rules with
   * `--no-hooks`: the storage and the server's copying grow with the identities that have hooks.
   */
  hooks?: boolean;
}

/** Every subset of the capabilities (a worker serves the jobs needing any of them). */
function subsets(caps: readonly string[]): string[][] {
  const out: string[][] = [[]];
  for (const c of [...caps].sort()) for (const s of [...out]) out.push([...s, c]);
  return out;
}

/** The JetStream API subjects of the job consumers an identity may create, pull and ack. */
function jobWorker(grants: Grants): string[] {
  const out: string[] = [];
  for (const queue of grants.queues ?? ["default"]) {
    for (const needs of subsets((grants.capabilities ?? []).slice(0, MAX_CAPABILITIES))) {
      const name = jobConsumerName(queue, jobNeedsToken(needs));
      // Created only through the filtered API subject (the server checks the body's filter equals
      // it), never DURABLE.CREATE, whose subject does not say what the consumer would take.
      out.push(
        `$JS.API.CONSUMER.CREATE.${STREAMS.jobs}.${name}.${jobSubject(queue, needs)}`,
        `$JS.API.CONSUMER.INFO.${STREAMS.jobs}.${name}`,
        `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.jobs}.${name}`,
        `$JS.ACK.${STREAMS.jobs}.${name}.>`,
      );
    }
  }
  return out;
}

export function identityPermissions(rawId: string, grants: Grants = {}): Permissions {
  const id = identity(rawId);
  const inbox = inboxConsumerName(id);
  const inboxStream = inboxStreamName(id);
  const dlq = dlqStreamName(id);
  const hooks = hooksStreamName(id);
  return {
    publish: {
      allow: [
        // messaging: its own lane of any inbox (agent.*.inbox.<id>: the lane names the sender, so
        // per-lane limits are per-sender shares; the recipient also verifies the signature), its
        // own events and dead letters, answers to asks, job submissions
        inboxesFrom(id),
        eventsOf(id),
        dlqOf(id),
        ALL_REPLIES,
        ALL_JOBS,
        // JetStream basics: stream names, and info of the shared streams and its own
        "$JS.API.INFO",
        "$JS.API.STREAM.NAMES",
        `$JS.API.STREAM.INFO.${STREAMS.events}`,
        `$JS.API.STREAM.INFO.${STREAMS.jobs}`,
        `$JS.API.STREAM.INFO.${inboxStream}`,
        `$JS.API.STREAM.INFO.${dlq}`,
        ...(grants.hooks === false ? [] : [`$JS.API.STREAM.INFO.${hooks}`]),
        // its own inbox consumer: info and pull, acks; nobody else's
        `$JS.API.CONSUMER.INFO.${inboxStream}.${inbox}`,
        `$JS.API.CONSUMER.MSG.NEXT.${inboxStream}.${inbox}`,
        `$JS.ACK.${inboxStream}.${inbox}.>`,
        // its own inbox's messages by sequence (when the oldest waiting one was sent)
        `$JS.API.DIRECT.GET.${inboxStream}`,
        // and removing each one it is done with (delivered, dead-lettered or a repeat), so a sender's
        // share of the inbox bounds what waits, not everything it ever sent
        `$JS.API.STREAM.MSG.DELETE.${inboxStream}`,
        // its own dead letters: read with ephemeral consumers or by sequence; nobody else's
        `$JS.API.CONSUMER.CREATE.${dlq}`,
        `$JS.API.CONSUMER.CREATE.${dlq}.>`,
        `$JS.API.CONSUMER.INFO.${dlq}.*`,
        `$JS.API.CONSUMER.DELETE.${dlq}.*`,
        `$JS.API.CONSUMER.MSG.NEXT.${dlq}.*`,
        `$JS.ACK.${dlq}.>`,
        `$JS.API.STREAM.MSG.GET.${dlq}`,
        // its hook-rule consumers, on its own copy of EVENTS: create, change, delete, pull
        ...(grants.hooks === false
          ? []
          : [
              `$JS.API.CONSUMER.CREATE.${hooks}.>`,
              `$JS.API.CONSUMER.DURABLE.CREATE.${hooks}.*`,
              `$JS.API.CONSUMER.INFO.${hooks}.*`,
              `$JS.API.CONSUMER.DELETE.${hooks}.*`,
              `$JS.API.CONSUMER.MSG.NEXT.${hooks}.*`,
              `$JS.ACK.${hooks}.>`,
            ]),
        // events: read by everyone, by direct get and single messages only (src/bus/replay.ts). No
        // consumer: a consumer is a slot of the shared stream, and on nats-server 2.9 its inactivity
        // threshold is the client's to set, so one identity could hold every slot, for good.
        `$JS.API.DIRECT.GET.${STREAMS.events}`,
        // its own events' history (HISTORY-<id>, where no other identity's flood reaches): info and direct get
        `$JS.API.STREAM.INFO.${historyStreamName(id)}`,
        `$JS.API.DIRECT.GET.${historyStreamName(id)}`,
        `$JS.API.STREAM.MSG.GET.${STREAMS.events}`,
        // jobs: the consumers of the queues and capabilities the admin granted. Job records: its
        // own bucket only (what it submitted, the runs it made); anyone's records by key, with a
        // direct get whose subject names a job record key (sub.<job>, cancel.<job>, run.<job>): nothing else
        ...jobWorker(grants),
        `$KV.${jobBucketName(id)}.>`,
        ...kvRead(jobBucketName(id), { consumers: true }),
        ...JOB_KEY_KINDS.map((k) => `$JS.API.DIRECT.GET.*.$KV.*.${k}.*`),
        // the answers to its asks, kept (REPLIES-<id>): read by subject, its own only
        `$JS.API.STREAM.INFO.${repliesStreamName(id)}`,
        `$JS.API.DIRECT.GET.${repliesStreamName(id)}`,
        `$JS.API.DIRECT.GET.${repliesStreamName(id)}.>`,
        // A2A tasks: its own bucket only, to write and to read (nobody else's)
        `$KV.${a2aBucketName(id)}.>`,
        ...kvRead(a2aBucketName(id), { consumers: true }),
        // presence: its own key only; read everyone's
        kvSubject(BUCKETS.presence, id),
        ...kvRead(BUCKETS.presence),
        // peer alerts: the lease and the transitions only for identities granted --alerts
        ...(grants.alerts ? [`$KV.${BUCKETS.leader}.>`, `$KV.${BUCKETS.alerts}.>`] : []),
        ...kvRead(BUCKETS.leader),
        ...kvRead(BUCKETS.alerts),
        // the identity registry: read only
        ...kvRead(BUCKETS.identities),
        // sealing keys: its own key only (signed by it); read everyone's
        kvSubject(BUCKETS.xkeys, id),
        ...kvRead(BUCKETS.xkeys),
      ],
    },
    subscribe: {
      // job record writes as they happen (only job buckets have sub.<job>, cancel.<job>, run.<job> keys)
      allow: [`${clientInboxPrefix(id)}.>`, repliesTo(id), ALL_EVENTS, ...JOB_KEY_KINDS.map((k) => `$KV.*.${k}.*`)],
    },
  };
}
