import { safeJson } from "../../base/json.js";
import { hostname } from "node:os";
import type { KV } from "@nats-io/kv";
import { hubDomainOf, hubKvm } from "../../bus/domain.js";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { PRESENCE_TTL_MS } from "../../../broker/definitions.js";
import { BUCKETS, inboxConsumerName, inboxStreamName } from "../../../subjects/names.js";
import { inboxOwners } from "../../../broker/status.js";
import { isAbsentOrDenied } from "../../base/nats-errors.js";
import { presenceSchema, type Presence } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import { liveEntries } from "../../bus/kv-read.js";

export const HEARTBEAT_MS = 5_000;
/** A peer whose last heartbeat is older than this is shown as stale (its entry expires at the bucket TTL). */
export const STALE_AFTER_MS = 3 * HEARTBEAT_MS;

/** Heartbeats this identity into the presence bucket; deletes its entry on a graceful stop. */
export class PresenceHeartbeat {
  private kv?: KV;
  private timer?: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly nc: NatsConnection,
    private readonly info: { identity: string; version: string; capabilities: string[]; bridge?: string; queues?: string[] },
    private readonly gatewayStatus: () => Presence["gateway"],
    private readonly log: Logger,
    private readonly intervalMs = HEARTBEAT_MS,
  ) {}

  async start(): Promise<void> {
    try {
      this.kv = await hubKvm(this.nc).open(BUCKETS.presence);
    } catch (err) {
      // Leaf mode: presence lives on the hub, and a Mac starts while the hub is away; the next beats retry.
      if (!hubDomainOf(this.nc)) throw err;
      this.log.warn({ err: (err as Error).message }, "presence: the hub is not reachable now; retrying with every heartbeat");
    }
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  current(status: Presence["status"] = "online"): Presence {
    return {
      identity: this.info.identity,
      host: hostname(),
      version: this.info.version,
      capabilities: this.info.capabilities,
      gateway: this.gatewayStatus(),
      startedAt: this.startedAt,
      lastSeen: new Date().toISOString(),
      status,
      ...(this.info.bridge ? { bridge: this.info.bridge } : {}),
      ...(this.info.queues ? { queues: this.info.queues } : {}),
    };
  }

  /** Heartbeat now (e.g. the gateway's state changed). */
  refresh(): void {
    void this.beat();
  }

  private async beat(): Promise<void> {
    try {
      this.kv ??= await hubKvm(this.nc).open(BUCKETS.presence);
      await this.kv.put(this.info.identity, JSON.stringify(this.current()));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "presence heartbeat failed");
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      await this.kv?.delete(this.info.identity);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not clear presence");
    }
  }
}

export type PeerState = "online" | "stale" | "offline";

/** Online, stale or offline by the age of the last heartbeat: worked out here only (mesh peers, the web view). */
export function presenceState(ageMs: number, staleAfterMs = STALE_AFTER_MS, offlineAfterMs = PRESENCE_TTL_MS): PeerState {
  return ageMs <= staleAfterMs ? "online" : ageMs <= offlineAfterMs ? "stale" : "offline";
}
export interface Peer {
  identity: string;
  state: PeerState;
  presence?: Presence;
  ageMs?: number;
  inbox?: { waiting: number; inFlight: number };
}

/** Every identity the mesh knows (presence entries ∪ inbox consumers), classified. */
export async function listPeers(nc: NatsConnection, now = Date.now()): Promise<Peer[]> {
  const peers = new Map<string, Peer>();
  const kv = await hubKvm(nc).open(BUCKETS.presence);
  for (const e of await liveEntries(kv)) {
    const key = e.key;
    const parsed = presenceSchema.safeParse(safeJson(e.string()));
    if (!parsed.success) continue;
    const ageMs = now - Date.parse(parsed.data.lastSeen);
    const state = presenceState(ageMs);
    peers.set(key, { identity: key, state, presence: parsed.data, ageMs });
  }
  // Inbox depth: each identity's inbox stream and consumer, as far as this credential may see
  // them (an identity sees its own; the admin sees all). Identities that were provisioned but
  // never started a sidecar show up here too: their messages wait.
  const jsm = await jetstreamManager(nc);
  const ids = new Set(peers.keys());
  try {
    for (const id of await inboxOwners(jsm)) ids.add(id);
  } catch (err) {
    if (!isAbsentOrDenied(err)) throw err;
  }
  for (const id of ids) {
    try {
      const ci = await jsm.consumers.info(inboxStreamName(id), inboxConsumerName(id));
      const peer = peers.get(id) ?? { identity: id, state: "offline" as const };
      peer.inbox = { waiting: ci.num_pending, inFlight: ci.num_ack_pending };
      peers.set(id, peer);
    } catch (err) {
      if (!isAbsentOrDenied(err)) throw err;
      if (!peers.has(id)) peers.set(id, { identity: id, state: "offline" as const });
    }
  }
  return [...peers.values()].sort((a, b) => a.identity.localeCompare(b.identity));
}

