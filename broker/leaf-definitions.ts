import { DiscardPolicy, RetentionPolicy, StorageType, type StreamSource } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { ALL_EVENTS, ALL_INBOXES, inboxOf, linkDownSubject, linkUpSubject } from "../subjects/subjects.js";
import { BUCKETS, HUB_DOMAIN, STREAMS, dlqStreamName, hooksStreamName, inboxStreamName, jsApiPrefix, leafDomain, macEventsStreamName, outboxStreamName } from "../subjects/names.js";
import { DEFAULT_IDENTITY_LIMITS, INBOX_MAX_MSG_BYTES, identityStreamDefinitions, streamDefinitions, type StreamDefinition } from "./definitions.js";

/**
 * The streams of leaf mode (README "Offline-first Macs"), as code. Checked against nats-server
 * 2.9.10 (../shared/notes/offline-first.md); each rule below is one of its gotchas:
 * - a message reaches a stream by exactly one path, and is deduplicated only where it is first
 *   published (OUTBOX): dedup across two sources is broken on 2.9.10 (nats-server#4459);
 * - the receiving side always defines the source or mirror (a server cannot push a stream);
 * - limits retention everywhere (a work-queue origin loses messages across leaf outages,
 *   nats-server#4109), with a max_age longer than any time offline;
 * - nothing consumes across the link: every consumer of this layout is on the server it reads.
 */
const DAY = 24 * 60 * 60 * 1000;

/** How long a Mac may stay offline with nothing lost: what waits in its outbox is kept this long (as long as an inbox keeps mail). */
export const OUTBOX_MAX_AGE_MS = 14 * DAY;
/** The outbox deduplicates a retried publish (same Nats-Msg-Id) within this window. */
export const OUTBOX_DUPLICATE_WINDOW_MS = 60 * 60_000;
/**
 * Messages one sender may have stored for one recipient (its lane agent.<to>.inbox.<from>) in its
 * Mac's outbox: an inbox's per-sender share, enforced here, at the origin, where the publish happens
 * and the sender gets the server's "maximum messages per subject exceeded". A stream filled by a
 * source must never refuse what its source brings (that stalls the source, and every other sender
 * behind it): inboxes downstream keep more per sender (SOURCED_PER_SENDER_MESSAGES) and drop the oldest.
 * The outbox is trimmed as mail is delivered (src/features/inbox/leaf-outbox.ts), so a lane counts
 * what has not been delivered yet, as a single broker's inbox does.
 */
export const OUTBOX_PER_SENDER_MESSAGES = DEFAULT_IDENTITY_LIMITS.inboxPerSender;
/**
 * What an inbox filled by sources keeps per sender before it drops the oldest: four shares. Mail for
 * a Mac that is away stops being trimmed from the sender's outbox once the hub's inbox holds a
 * share of it, so at most about three shares of one sender's undelivered mail wait downstream, and
 * nothing undelivered is dropped within the 14-day max_age.
 */
export const SOURCED_PER_SENDER_MESSAGES = 4 * OUTBOX_PER_SENDER_MESSAGES;

/** Who lives where: each Mac and the identities it hosts. */
export type MacMap = Readonly<Record<string, readonly string[]>>;

function base(name: string, description: string): Pick<StreamDefinition, "name" | "description" | "retention" | "storage" | "num_replicas" | "max_msg_size" | "max_bytes"> {
  return { name, description, retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: 1, max_msg_size: 1024 * 1024, max_bytes: -1 };
}

/** A Mac's outbox on its leaf: every inbox message its clients send, acknowledged locally. */
export function outboxDefinition(mac: string): StreamDefinition {
  return {
    ...base(outboxStreamName(mac), `openclaw-mesh outbox of Mac ${mac}: the mail its clients send, carried to the hub`),
    subjects: [ALL_INBOXES],
    max_msg_size: INBOX_MAX_MSG_BYTES,
    discard: DiscardPolicy.New,
    discard_new_per_subject: true,
    max_msgs_per_subject: OUTBOX_PER_SENDER_MESSAGES,
    max_age: nanos(OUTBOX_MAX_AGE_MS),
    duplicate_window: nanos(OUTBOX_DUPLICATE_WINDOW_MS),
    max_consumers: 16,
    allow_direct: true,
  };
}

/**
 * A Mac's events on its leaf: what its sidecars report, kept like EVENTS (oldest dropped first per
 * kind: monitoring never blocks a publisher), sourced by the hub's EVENTS.
 */
export function macEventsDefinition(mac: string): StreamDefinition {
  const events = streamDefinitions()[0]!;
  return {
    ...events,
    name: macEventsStreamName(mac),
    description: `openclaw-mesh events of Mac ${mac}, carried to the hub's EVENTS`,
    max_consumers: 16,
  };
}

/** A sourced inbox: no subjects of its own, four times the origin's per-sender limit, oldest dropped (never while on time). */
function sourcedInbox(id: string, where: string, sources: StreamSource[]): StreamDefinition {
  return {
    ...base(inboxStreamName(id), `openclaw-mesh inbox of ${id} (${where})`),
    sources,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: SOURCED_PER_SENDER_MESSAGES,
    max_msg_size: INBOX_MAX_MSG_BYTES,
    max_age: nanos(OUTBOX_MAX_AGE_MS),
    max_consumers: 32,
    allow_direct: true,
  };
}

/**
 * An identity's copy of the events for its hook rules, on its Mac's leaf: sourced from the hub's
 * EVENTS (every Mac's events, this one's included, come down the link), kept as on a single broker.
 * Its rule consumers live here, on the server the sidecar reads: nothing consumes across the link.
 */
export function leafHooksDefinition(mac: string, id: string): StreamDefinition {
  const single = identityStreamDefinitions(id).find((d) => d.name === hooksStreamName(id))!;
  return {
    ...single,
    description: `openclaw-mesh events for the hook rules of ${id} (on Mac ${mac}, from the hub's EVENTS)`,
    sources: [{ name: STREAMS.events, external: { api: jsApiPrefix(HUB_DOMAIN), deliver: linkDownSubject(mac) } }],
  };
}

/**
 * A Mac's own streams on its leaf: its outbox, and for each identity it hosts an inbox fed by two
 * sources (same-Mac mail from the outbox, mail from other Macs from the hub's inbox) and its dead
 * letters (kept on the Mac: `dlq.>` never crosses the link); for those in `hooks` (identities with
 * hook rules) their copy of the events too.
 */
export function leafStreamDefinitions(mac: string, ids: readonly string[], hooks: readonly string[] = []): StreamDefinition[] {
  const defs: StreamDefinition[] = [outboxDefinition(mac), macEventsDefinition(mac), identitiesMirrorDefinition(mac), identitiesMirrorDefinition(mac, BUCKETS.xkeys)];
  for (const id of ids) {
    defs.push(
      sourcedInbox(id, `on Mac ${mac}`, [
        { name: outboxStreamName(mac), filter_subject: inboxOf(id) },
        { name: inboxStreamName(id), external: { api: jsApiPrefix(HUB_DOMAIN), deliver: linkDownSubject(mac) } },
      ]),
      // Its dead letters stay on the Mac, as on a single broker (`dlq.>` never crosses the link).
      identityStreamDefinitions(id).find((d) => d.name === dlqStreamName(id))!,
    );
    if (hooks.includes(id)) defs.push(leafHooksDefinition(mac, id));
  }
  return defs;
}

/**
 * A read-only mirror of the hub's identity registry on the Mac, so a sidecar (re)started offline still
 * verifies same-Mac mail: the registry is read locally, written only on the hub by the admin. The
 * sealing keys (mesh-xkeys) are mirrored the same way, so a message is sealed offline too.
 */
export function identitiesMirrorDefinition(mac: string, bucket: string = BUCKETS.identities): StreamDefinition {
  return {
    ...base(`KV_${bucket}`, `openclaw-mesh ${bucket} of the hub, mirrored on Mac ${mac}`),
    mirror: { name: `KV_${bucket}`, external: { api: jsApiPrefix(HUB_DOMAIN), deliver: linkDownSubject(mac) } },
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: 1,
    max_age: 0,
    max_bytes: 4 * 1024 ** 2,
    max_msg_size: 4 * 1024,
    max_consumers: 16,
    allow_direct: true,
    allow_rollup_hdrs: true,
    deny_delete: true,
  };
}

/** The hub's mirror of one Mac's outbox (the hub pulls it through the Mac's domain). */
export function hubMirrorDefinition(mac: string): StreamDefinition {
  return {
    ...base(outboxStreamName(mac), `openclaw-mesh hub mirror of Mac ${mac}'s outbox`),
    mirror: { name: outboxStreamName(mac), external: { api: jsApiPrefix(leafDomain(mac)), deliver: linkUpSubject(mac) } },
    discard: DiscardPolicy.Old,
    max_age: nanos(OUTBOX_MAX_AGE_MS),
    max_consumers: 16,
    allow_direct: true,
  };
}

/** The sources of the hub's INBOX-<id>: every other Mac's mirror, filtered to <id>'s mail (its home Mac delivers its own). */
export function hubInboxSources(id: string, home: string, macs: MacMap): StreamSource[] {
  return Object.keys(macs)
    .filter((m) => m !== home)
    .sort()
    .map((m) => ({ name: outboxStreamName(m), filter_subject: inboxOf(id) }));
}

/** The sources of the hub's EVENTS: every Mac's events, straight from its leaf (nothing else needs them on the hub). */
export function hubEventSources(macs: MacMap): StreamSource[] {
  return Object.keys(macs)
    .sort()
    .map((m) => ({ name: macEventsStreamName(m), filter_subject: ALL_EVENTS, external: { api: jsApiPrefix(leafDomain(m)), deliver: linkUpSubject(m) } }));
}
