import { LEAF_DENIED, linkDownSubject, linkUpSubject } from "../subjects/subjects.js";
import { BUCKETS, HUB_DOMAIN, STREAMS, inboxStreamName, jsApiPrefix, leafDomain, macEventsStreamName, outboxStreamName } from "../subjects/names.js";
import { identityPermissions, type Grants, type Permissions } from "./permissions.js";

/**
 * What one Mac's leaf server may carry over its link to the hub, as the permissions of its leaf user
 * on the hub. Written from the leaf's point of view (nats-server 2.9.10 swaps them for a leaf
 * connection, gotcha 5): `publish` is what the leaf may send to the hub, `subscribe` what the hub
 * may send to the leaf.
 *
 * - The link itself: the hub's mirror of this Mac's outbox (the hub's API requests into the Mac's
 *   domain, deliveries on mesh.up.<mac>), the Mac's inboxes sourcing the hub's inboxes of the
 *   identities it hosts (API requests into the hub's domain, deliveries on mesh.down.<mac>), and
 *   the flow control of both; and the copies of the hub's EVENTS its identities' hook rules read
 *   (HOOKS-<id> on the Mac, sourcing EVENTS: readable by every identity anyway).
 * - How many of this Mac's messages wait in every other identity's inbox on the hub (`peers`: every
 *   identity of the mesh; the stream info, never a message), for the outbox trim.
 * - Its identities' own traffic, online: what each identity hosted on this Mac may do on the hub
 *   (broker/permissions.ts), with the hub's JetStream API reached through the hub's domain. Nothing
 *   of another Mac's identities.
 *
 * The hub enforces these on what it sends to the leaf and on the leaf's subscriptions; what a
 * hostile leaf sends is another matter (README "Offline-first Macs", gotcha 6).
 */
export function leafPermissions(mac: string, ids: readonly string[], grantsOf: (id: string) => Grants = () => ({}), peers: readonly string[] = ids): Permissions {
  const hubApi = jsApiPrefix(HUB_DOMAIN);
  const macApi = jsApiPrefix(leafDomain(mac));
  const outbox = outboxStreamName(mac);
  const link = {
    publish: [
      `${linkUpSubject(mac)}.>`,
      // flow control of the inbound sources, and the answers to the hub's API requests
      "$JS.FC.>",
      "$JSC.R.>",
      // how far the hub's mirror of this Mac's outbox got (the backlog `mesh send` reports)
      `${hubApi}.STREAM.INFO.${outbox}`,
      // how much of this Mac's mail each recipient's hub inbox holds undelivered (the outbox trim,
      // src/features/inbox/leaf-outbox.ts): counts and config, never a message
      ...peers.filter((p) => !ids.includes(p)).map((p) => `${hubApi}.STREAM.INFO.${inboxStreamName(p)}`),
      // the consumers of the Mac's sources and mirrors: EVENTS (its HOOKS-<id> copies), its
      // identities' inboxes, and the registry and sealing keys it mirrors (identities themselves may
      // make no consumer on a shared bucket: broker/permissions.ts)
      ...[STREAMS.events, ...ids.map(inboxStreamName), `KV_${BUCKETS.identities}`, `KV_${BUCKETS.xkeys}`].flatMap((s) => [
        `${hubApi}.CONSUMER.CREATE.${s}`,
        `${hubApi}.CONSUMER.CREATE.${s}.>`,
        `${hubApi}.CONSUMER.DELETE.${s}.*`,
        `${hubApi}.STREAM.INFO.${s}`,
      ]),
    ],
    subscribe: [
      `${linkDownSubject(mac)}.>`,
      "$JS.FC.>",
      "$JSC.R.>",
      // the hub's mirror of its outbox and the hub's EVENTS sourcing its events
      ...[outbox, macEventsStreamName(mac)].flatMap((s) => [
        `${macApi}.CONSUMER.CREATE.${s}`,
        `${macApi}.CONSUMER.CREATE.${s}.>`,
        `${macApi}.CONSUMER.DELETE.${s}.*`,
        `${macApi}.STREAM.INFO.${s}`,
      ]),
    ],
  };
  const denied = (s: string): boolean => LEAF_DENIED.some((d) => s.startsWith(d.slice(0, -1)));
  // A leaf's clients reach the hub's JetStream (and its KV buckets) through the hub's domain.
  const viaHub = (s: string): string =>
    s.startsWith("$JS.API.") ? `${hubApi}.${s.slice("$JS.API.".length)}` : s.startsWith("$KV.") ? `${hubApi}.${s}` : s;
  // Mail and events are not consumed across the link (gotcha 4: acks across a cut fail, and what
  // was fetched comes again): no pull, no ack, no durable consumer on the hub for them. Reading the
  // hub's KV buckets and EVENTS by direct get, and ordered (ack-less, ephemeral) consumers, stay
  // allowed. Jobs are the exception: they live only on the hub, a worker pulls its granted
  // consumers there, and a job that comes again after a cut finds its record and never runs twice.
  const consumes = (s: string): boolean =>
    !s.includes(`.${STREAMS.jobs}.`) && (s.includes(".CONSUMER.MSG.NEXT.") || s.startsWith("$JS.ACK.") || s.includes(".CONSUMER.DURABLE.CREATE."));
  const own = ids.map((id) => identityPermissions(id, grantsOf(id)));
  const uniq = (xs: string[]): string[] => [...new Set(xs)];
  return {
    publish: { allow: uniq([...link.publish, ...own.flatMap((p) => p.publish.allow).filter((s) => !denied(s) && !consumes(s)).map(viaHub)]) },
    subscribe: { allow: uniq([...link.subscribe, ...own.flatMap((p) => p.subscribe.allow).filter((s) => !denied(s))]) },
  };
}
