import { ALL_EVENTS, ALL_INBOXES, ALL_JOBS, ALL_REPLIES, dlqOf, eventsOf, identity, repliesTo } from "../subjects/mod.js";
import { BUCKETS, STREAMS, clientInboxPrefix, inboxConsumerName, kvSubject } from "../subjects/names.js";

/**
 * Least privilege for one identity, as nats-server permissions. Every JetStream API subject listed
 * is one a sidecar or the CLI of that identity uses; nothing here lets it read another identity's
 * inbox, touch another's inbox consumer, purge or delete a stream, or delete a bucket.
 */
export interface Permissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

const kvRead = (bucket: string): string[] => [
  `$JS.API.STREAM.INFO.KV_${bucket}`,
  `$JS.API.DIRECT.GET.KV_${bucket}.>`,
  `$JS.API.STREAM.MSG.GET.KV_${bucket}`,
  // watch / keys: an ephemeral ordered consumer
  `$JS.API.CONSUMER.CREATE.KV_${bucket}.>`,
  `$JS.API.CONSUMER.CREATE.KV_${bucket}`,
  `$JS.API.CONSUMER.DELETE.KV_${bucket}.*`,
  `$JS.API.CONSUMER.INFO.KV_${bucket}.*`,
  `$JS.API.CONSUMER.MSG.NEXT.KV_${bucket}.*`,
];


export function identityPermissions(rawId: string): Permissions {
  const id = identity(rawId);
  const inbox = inboxConsumerName(id);
  return {
    publish: {
      allow: [
        // messaging
        ALL_INBOXES,
        eventsOf(id),
        dlqOf(id),
        ALL_REPLIES,
        ALL_JOBS,
        // JetStream basics
        "$JS.API.INFO",
        `$JS.API.STREAM.INFO.${STREAMS.inbox}`,
        `$JS.API.STREAM.INFO.${STREAMS.events}`,
        `$JS.API.STREAM.INFO.${STREAMS.jobs}`,
        `$JS.API.STREAM.INFO.${STREAMS.dlq}`,
        "$JS.API.STREAM.NAMES",
        "$JS.API.STREAM.LIST",
        // its own inbox consumer: info and pull, acks; nobody else's
        `$JS.API.CONSUMER.INFO.${STREAMS.inbox}.${inbox}`,
        `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.inbox}.${inbox}`,
        `$JS.ACK.${STREAMS.inbox}.${inbox}.>`,
        // events: read (replay with ordered consumers) and its own hook-rule consumers
        `$JS.API.CONSUMER.CREATE.${STREAMS.events}.>`,
        `$JS.API.CONSUMER.INFO.${STREAMS.events}.*`,
        `$JS.API.CONSUMER.DELETE.${STREAMS.events}.*`,
        `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.events}.*`,
        `$JS.ACK.${STREAMS.events}.>`,
        `$JS.API.DIRECT.GET.${STREAMS.events}`,
        `$JS.API.STREAM.MSG.GET.${STREAMS.events}`,
        // dead letters: read its own
        `$JS.API.STREAM.MSG.GET.${STREAMS.dlq}`,
        // jobs: worker and submitter
        `$JS.API.CONSUMER.CREATE.${STREAMS.jobs}.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${STREAMS.jobs}.*`,
        `$JS.API.CONSUMER.INFO.${STREAMS.jobs}.*`,
        `$JS.API.CONSUMER.MSG.NEXT.${STREAMS.jobs}.*`,
        `$JS.ACK.${STREAMS.jobs}.>`,
        `$JS.API.STREAM.MSG.DELETE.${STREAMS.jobs}`,
        `$KV.${BUCKETS.jobs}.>`,
        ...kvRead(BUCKETS.jobs),
        // presence: its own key only; read everyone's
        kvSubject(BUCKETS.presence, id),
        ...kvRead(BUCKETS.presence),
        // alert lease and peer state
        `$KV.${BUCKETS.leader}.>`,
        ...kvRead(BUCKETS.leader),
        `$KV.${BUCKETS.alerts}.>`,
        ...kvRead(BUCKETS.alerts),
        // the identity registry: read only
        ...kvRead(BUCKETS.identities),
      ],
    },
    subscribe: {
      allow: [`${clientInboxPrefix(id)}.>`, repliesTo(id), ALL_EVENTS],
    },
  };
}
