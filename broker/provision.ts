import { DeliverPolicy, jetstreamManager, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  LEADER_TTL_MS,
  PRESENCE_TTL_MS,
  hookConsumer,
  inboxConsumer,
  jobConsumer,
  identityStreamDefinitions,
  streamDefinitions,
  type ConsumerDefinition,
  type IdentityLimits,
  type StreamDefinition,
} from "./definitions.js";
import { BUCKETS, STREAMS, hooksStreamName, inboxStreamName } from "../subjects/names.js";
import { isAlreadyExists, isNotFound } from "../src/base/nats-errors.js";
import { MeshError } from "../src/base/errors.js";

export type Change = "created" | "updated" | "unchanged" | "deleted";

export interface ProvisionReport {
  streams: Record<string, Change>;
  consumers: Record<string, Change>;
  buckets: Record<string, Change>;
}

function differs(want: Record<string, unknown>, have: Record<string, unknown>): boolean {
  return Object.entries(want).some(([k, v]) => JSON.stringify(have[k]) !== JSON.stringify(v));
}

export async function ensureStream(jsm: JetStreamManager, def: StreamDefinition): Promise<Change> {
  try {
    const info = await jsm.streams.info(def.name);
    const have = info.config as unknown as Record<string, unknown>;
    // Replica count and retention cannot always change in place, nor the consumer limit on
    // nats-server 2.9 ("can not change MaxConsumers"); keep them.
    const { retention: _r, num_replicas: _n, max_consumers: _c, ...mutable } = def;
    if (!differs(mutable as Record<string, unknown>, have)) return "unchanged";
    await jsm.streams.update(def.name, { ...(info.config as StreamConfig), ...mutable });
    return "updated";
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(def as Partial<StreamConfig> & { name: string });
    return "created";
  }
}

/** Creates the consumer, or updates what may change in place; "unchanged" when it already matches. */
export async function ensureConsumer(jsm: JetStreamManager, stream: string, def: ConsumerDefinition): Promise<Change> {
  try {
    const info = await jsm.consumers.info(stream, def.durable_name);
    const { deliver_policy: _d, ...mutable } = def;
    if (!differs(mutable as Record<string, unknown>, info.config as unknown as Record<string, unknown>)) return "unchanged";
    await jsm.consumers.update(stream, def.durable_name, mutable);
    return "updated";
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await jsm.consumers.add(stream, def);
  } catch (err) {
    // Another sidecar created it at the same moment: the same definition, so nothing to do.
    if (!isAlreadyExists(err)) throw err;
    return "unchanged";
  }
  return "created";
}

/**
 * The inbox consumer. One made before per-sender lanes filters on agent.<id>.inbox and would never
 * see a lane: it is replaced by an unfiltered one that starts after the last message the old one
 * had acked (anything it had handed out and not acked comes again; the sidecar's delivered-journal
 * acks a repeat without a second delivery).
 */
export async function ensureInboxConsumer(jsm: JetStreamManager, id: string, ackWaitMs?: number): Promise<Change> {
  const stream = inboxStreamName(id);
  const def = inboxConsumer(id, ackWaitMs);
  try {
    const info = await jsm.consumers.info(stream, def.durable_name);
    if (info.config.filter_subject) {
      await jsm.consumers.delete(stream, def.durable_name);
      await jsm.consumers.add(stream, { ...def, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: info.ack_floor.stream_seq + 1 });
      return "updated";
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  return ensureConsumer(jsm, stream, def);
}

export function ensureJobConsumer(jsm: JetStreamManager, queue: string, needs: readonly string[], ackWaitMs?: number): Promise<Change> {
  return ensureConsumer(jsm, STREAMS.jobs, jobConsumer(queue, needs, ackWaitMs));
}

/**
 * A hook rule's consumer. When the rule's filter changed, the old position means nothing for the
 * new subjects: the consumer is deleted and the rule starts over from now.
 */
export async function ensureHookConsumer(jsm: JetStreamManager, id: string, rule: string, filter: string): Promise<Change> {
  const def = hookConsumer(id, rule, filter);
  try {
    const info = await jsm.consumers.info(hooksStreamName(id), def.durable_name);
    if (info.config.filter_subject === filter) return "unchanged";
    await jsm.consumers.delete(hooksStreamName(id), def.durable_name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await jsm.consumers.add(hooksStreamName(id), def);
  return "created";
}

export async function ensureBuckets(nc: NatsConnection, replicas = 1): Promise<Record<string, Change>> {
  const kvm = new Kvm(nc);
  const out: Record<string, Change> = {};
  // Every bucket is bounded (bytes, and the size of one value), so no identity can fill one.
  const MB = 1024 ** 2;
  const wanted: Array<[string, { ttl?: number; history: number; replicas: number; description: string; max_bytes: number; maxValueSize: number }]> = [
    [BUCKETS.presence, { ttl: PRESENCE_TTL_MS, history: 1, replicas, description: "openclaw-mesh presence heartbeats", max_bytes: 16 * MB, maxValueSize: 8 * 1024 }],
    [BUCKETS.leader, { ttl: LEADER_TTL_MS, history: 1, replicas, description: "openclaw-mesh leases (peer alerts)", max_bytes: 1 * MB, maxValueSize: 4 * 1024 }],
    [BUCKETS.alerts, { history: 1, replicas, description: "openclaw-mesh peer up/down state", max_bytes: 4 * MB, maxValueSize: 4 * 1024 }],
    [BUCKETS.identities, { history: 1, replicas, description: "openclaw-mesh identity public keys", max_bytes: 4 * MB, maxValueSize: 4 * 1024 }],
    [BUCKETS.xkeys, { history: 1, replicas, description: "openclaw-mesh sealing keys (curve), each signed by its identity", max_bytes: 4 * MB, maxValueSize: 1024 }],
  ];
  const jsm = await jetstreamManager(nc);
  for (const [name, opts] of wanted) {
    let info: StreamInfo | undefined;
    try {
      info = await jsm.streams.info(`KV_${name}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!info) {
      await kvm.create(name, opts);
      out[name] = "created";
    } else if (info.config.max_bytes !== opts.max_bytes || info.config.max_msg_size !== opts.maxValueSize) {
      // A bucket from an earlier version: put its limits in place.
      await jsm.streams.update(`KV_${name}`, { ...info.config, max_bytes: opts.max_bytes, max_msg_size: opts.maxValueSize });
      out[name] = "updated";
    } else {
      out[name] = "unchanged";
    }
  }
  return out;
}

/**
 * The shared INBOX and DLQ streams of earlier versions hold the subjects the per-identity streams
 * need. They are only removed when asked (`--drop-legacy`), after their messages were delivered.
 */
const LEGACY_STREAMS = ["INBOX", "DLQ"] as const;

export class LegacyStreamsError extends MeshError {
  override name = "LegacyStreamsError";
}

async function legacyStreams(jsm: JetStreamManager, drop: boolean): Promise<string[]> {
  const found: Array<{ name: string; messages: number }> = [];
  for (const name of LEGACY_STREAMS) {
    try {
      const si = await jsm.streams.info(name);
      found.push({ name, messages: si.state.messages });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  if (found.length === 0) return [];
  if (!drop) {
    throw new LegacyStreamsError(
      `this broker has the shared ${found.map((f) => `${f.name} (${f.messages} messages)`).join(" and ")} stream of an earlier openclaw-mesh; ` +
        "let the sidecars deliver what waits (mesh top: 0 waiting), then run `mesh broker provision --drop-legacy` to delete it and make one inbox per identity",
      2,
    );
  }
  for (const f of found) await jsm.streams.delete(f.name);
  return found.map((f) => f.name);
}

/** Applies every stream, bucket and (for the given identities) inbox consumer. Safe to run again. */
export async function provision(
  nc: NatsConnection,
  opts: { identities?: string[]; replicas?: number; dropLegacy?: boolean } = {},
): Promise<ProvisionReport> {
  const jsm = await jetstreamManager(nc);
  const report: ProvisionReport = { streams: {}, consumers: {}, buckets: {} };
  for (const name of await legacyStreams(jsm, opts.dropLegacy ?? false)) report.streams[name] = "deleted";
  for (const def of streamDefinitions(opts.replicas ?? 1)) {
    report.streams[def.name] = await ensureStream(jsm, def);
  }
  report.buckets = await ensureBuckets(nc, opts.replicas ?? 1);
  for (const id of opts.identities ?? []) {
    const one = await provisionIdentity(jsm, id, { replicas: opts.replicas ?? 1 });
    Object.assign(report.streams, one.streams);
    Object.assign(report.consumers, one.consumers);
  }
  return report;
}

/** {@link provisionIdentity} for each identity, on one connection (`broker up`: the registry's identities). */
export async function provisionIdentities(nc: NatsConnection, identities: ReadonlyArray<{ id: string; hooks?: boolean }>): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const i of identities) await provisionIdentity(jsm, i.id, { hooks: i.hooks !== false });
}

/**
 * One identity's streams (inbox, dead letters, hook events, job records, A2A tasks, replies) and its
 * inbox consumer. The admin runs it at `add-identity`; on an open mesh a sidecar runs it for itself
 * at start. `hooks: false` leaves out its copy of EVENTS (HOOKS-<id>): an identity without hook
 * rules needs none (an existing one is left as it is).
 */
export async function provisionIdentity(
  jsm: JetStreamManager,
  id: string,
  opts: { replicas?: number; limits?: IdentityLimits; ackWaitMs?: number; hooks?: boolean } = {},
): Promise<Pick<ProvisionReport, "streams" | "consumers">> {
  const out: Pick<ProvisionReport, "streams" | "consumers"> = { streams: {}, consumers: {} };
  // As many replicas as the mesh's shared streams have (a cluster provisioned with --replicas 3).
  const replicas = opts.replicas ?? (await jsm.streams.info(STREAMS.events).then((i) => i.config.num_replicas, () => 1));
  for (const def of identityStreamDefinitions(id, replicas, opts.limits)) {
    if (opts.hooks === false && def.name === hooksStreamName(id)) continue;
    out.streams[def.name] = await ensureStream(jsm, def);
  }
  out.consumers[`${inboxStreamName(id)}/${inboxConsumer(id).durable_name}`] = await ensureInboxConsumer(jsm, id, opts.ackWaitMs);
  return out;
}
