import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { STREAMS, inboxStreamName } from "../subjects/names.js";
import { identityStreamDefinitions, inboxConsumer, streamDefinitions, type StreamDefinition } from "./definitions.js";
import { ensureBuckets, ensureConsumer, ensureStream, type Change } from "./provision.js";
import {
  OUTBOX_MAX_AGE_MS,
  SOURCED_PER_SENDER_MESSAGES,
  hubEventSources,
  hubInboxSources,
  hubMirrorDefinition,
  leafStreamDefinitions,
  type MacMap,
} from "./leaf-definitions.js";
import { nanos } from "@nats-io/nats-core";
import { DiscardPolicy } from "@nats-io/jetstream";

/**
 * Leaf mode provisioning. Each side makes only its own streams (the receiving side defines every
 * source and mirror): a Mac's leaf its outbox, inboxes and dead letters; the hub its mirror of each
 * Mac's outbox and the sources of its inboxes and EVENTS. Safe to run again; a new Mac is one more
 * mirror and one more source on every other identity's inbox and on EVENTS.
 */
export type Report = Record<string, Change>;

/**
 * On a Mac's leaf: its outbox, and the inbox, dead letters and inbox consumer of each identity it
 * hosts; with `hooks`, each one's copy of the events for its hook rules (from the hub's EVENTS).
 */
export async function provisionLeaf(nc: NatsConnection, mac: string, ids: readonly string[], opts: { ackWaitMs?: number; hooks?: boolean } = {}): Promise<Report> {
  const jsm = await jetstreamManager(nc);
  const out: Report = {};
  for (const def of leafStreamDefinitions(mac, ids, opts.hooks ? ids : [])) out[`stream ${def.name}`] = await ensureStream(jsm, def);
  // The sidecar's durable consumer, on the Mac's own server: nothing consumes across the link.
  for (const id of ids) out[`consumer ${inboxStreamName(id)}/${inboxConsumer(id).durable_name}`] = await ensureConsumer(jsm, inboxStreamName(id), inboxConsumer(id, opts.ackWaitMs));
  return out;
}

/**
 * The hub's inbox of an identity hosted on a Mac: the single-broker inbox (its subjects stay, for
 * clients connected to the hub directly, e.g. during an upgrade) filled also by the other Macs'
 * mirrors. Filled by sources, so it never refuses what they bring (that would stall a source and
 * every sender behind it): the per-sender limit is the origin outbox's; here four times that, oldest first.
 */
export function hubInboxDefinition(id: string, home: string, macs: MacMap): StreamDefinition {
  const single = identityStreamDefinitions(id)[0]!;
  return {
    ...single,
    sources: hubInboxSources(id, home, macs),
    discard: DiscardPolicy.Old,
    discard_new_per_subject: false,
    max_msgs: -1,
    max_bytes: -1,
    max_msgs_per_subject: SOURCED_PER_SENDER_MESSAGES,
    max_age: nanos(OUTBOX_MAX_AGE_MS),
  };
}

/** On the hub: the shared streams, a mirror of every Mac's outbox, every hosted identity's inbox with its sources, EVENTS with its sources. */
export async function provisionHub(nc: NatsConnection, macs: MacMap): Promise<Report> {
  const jsm = await jetstreamManager(nc);
  const out: Report = {};
  const shared = streamDefinitions();
  for (const def of shared) {
    const withSources = def.name === STREAMS.events ? { ...def, sources: hubEventSources(macs) } : def;
    out[`stream ${def.name}`] = await ensureStream(jsm, withSources);
  }
  for (const [b, c] of Object.entries(await ensureBuckets(nc))) out[`bucket ${b}`] = c;
  for (const mac of Object.keys(macs).sort()) out[`stream ${hubMirrorDefinition(mac).name} (mirror)`] = await ensureStream(jsm, hubMirrorDefinition(mac));
  for (const [mac, ids] of Object.entries(macs)) {
    for (const id of ids) {
      for (const def of identityStreamDefinitions(id)) {
        const d = def.name === inboxStreamName(id) ? hubInboxDefinition(id, mac, macs) : def;
        out[`stream ${d.name}`] = await ensureStream(jsm, d);
      }
    }
  }
  return out;
}

/** Every consumer on a server's streams (stream/consumer), for the check that none is made across the link. */
export async function consumersOf(jsm: JetStreamManager): Promise<string[]> {
  const out: string[] = [];
  for await (const s of jsm.streams.list()) {
    for await (const c of jsm.consumers.list(s.config.name)) out.push(`${s.config.name}/${c.name}`);
  }
  return out.sort();
}
