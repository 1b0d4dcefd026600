import { isNotFound } from "../src/base/nats-errors.js";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { ALL_INBOXES } from "../subjects/subjects.js";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS, STREAMS, a2aBucketOwner, inboxStreamName, jobBucketOwner, streamOwner } from "../subjects/names.js";

/** Every identity with an inbox stream (INBOX-<id>), found by subject with STREAM.NAMES (allowed to every identity). */
export async function inboxOwners(jsm: JetStreamManager): Promise<string[]> {
  const ids: string[] = [];
  for await (const name of jsm.streams.names(ALL_INBOXES)) {
    const id = streamOwner(name);
    if (id) ids.push(id);
  }
  return ids;
}

export interface StreamStatus {
  name: string;
  present: boolean;
  messages?: number;
  bytes?: number;
  consumers?: number;
  replicas?: number;
}

export interface BrokerStatus {
  server: { name: string; version: string; jetstream: boolean; maxPayload: number };
  account?: { memory: number; storage: number; streams: number; consumers: number };
  streams: StreamStatus[];
  inboxConsumers: Array<{ name: string; pending: number; ackPending: number; redelivered: number }>;
}

export async function brokerStatus(nc: NatsConnection): Promise<BrokerStatus> {
  const info = nc.info;
  const status: BrokerStatus = {
    server: {
      name: info?.server_name ?? "?",
      version: info?.version ?? "?",
      jetstream: Boolean(info?.jetstream),
      maxPayload: info?.max_payload ?? 0,
    },
    streams: [],
    inboxConsumers: [],
  };
  if (!status.server.jetstream) return status;
  const jsm = await jetstreamManager(nc);
  const acct = await jsm.getAccountInfo();
  status.account = { memory: acct.memory, storage: acct.storage, streams: acct.streams, consumers: acct.consumers };
  const perIdentity: string[] = [];
  for await (const n of jsm.streams.names()) if (streamOwner(n) || jobBucketOwner(n) || a2aBucketOwner(n)) perIdentity.push(n);
  const names = [...Object.values(STREAMS), ...Object.values(BUCKETS).map((b) => `KV_${b}`), ...perIdentity.sort()];
  for (const name of names) {
    try {
      const si = await jsm.streams.info(name);
      status.streams.push({
        name,
        present: true,
        messages: si.state.messages,
        bytes: si.state.bytes,
        consumers: si.state.consumer_count,
        replicas: si.config.num_replicas,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      status.streams.push({ name, present: false });
    }
  }
  for (const stream of perIdentity) {
    const id = streamOwner(stream);
    if (!id || stream !== inboxStreamName(id)) continue;
    for await (const ci of jsm.consumers.list(stream)) {
      if (!ci.config.durable_name) continue; // ephemeral replay consumers of `mesh sub`
      status.inboxConsumers.push({
        name: ci.name,
        pending: ci.num_pending,
        ackPending: ci.num_ack_pending,
        redelivered: ci.num_redelivered,
      });
    }
  }
  return status;
}
