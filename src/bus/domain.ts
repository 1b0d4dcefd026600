import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";

/**
 * Leaf mode: a connection to a Mac's leaf server reaches two JetStreams, the Mac's own (its outbox,
 * inboxes, dead letters) and the hub's (presence, the identity registry, jobs and their records), through the hub's
 * domain. What lives only on the hub is reached through these; on a single broker they are the
 * connection's own JetStream.
 */
const hubDomains = new WeakMap<NatsConnection, string>();

/** Marks a connection as one to a leaf server whose hub has this JetStream domain. */
export function setHubDomain(nc: NatsConnection, domain: string): void {
  hubDomains.set(nc, domain);
}

/** The hub's JetStream domain of a leaf connection; undefined on a single broker. */
export function hubDomainOf(nc: NatsConnection): string | undefined {
  return hubDomains.get(nc);
}

const opts = (nc: NatsConnection): { domain?: string } => {
  const domain = hubDomains.get(nc);
  return domain ? { domain } : {};
};

export function hubJetStream(nc: NatsConnection): JetStreamClient {
  return jetstream(nc, opts(nc));
}

export function hubJetStreamManager(nc: NatsConnection, o: { checkAPI?: boolean } = {}): Promise<JetStreamManager> {
  return jetstreamManager(nc, { ...opts(nc), ...o });
}

/** The KV buckets that live on the hub (presence, identities, leases, alerts). */
export function hubKvm(nc: NatsConnection): Kvm {
  return new Kvm(hubJetStream(nc));
}
