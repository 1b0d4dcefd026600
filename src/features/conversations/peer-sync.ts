import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS } from "../../../subjects/names.js";
import { isIdentity, jobPeerName, parseJobPeer, presenceSchema, type Presence } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import type { A2APeerTable } from "../../agent/openclaw-a2a/peers.js";
import { liveEntries, liveKeys } from "../../bus/kv-read.js";

/**
 * Keeps the gateway's A2A peers equal to the mesh's identities, so every identity is addressable
 * as `a2a:<id>` on every gateway with no manual edit. On a secure mesh the identity registry
 * (mesh-identities, written by the admin) is the list: a revoked identity is removed. On an open
 * mesh every identity seen in presence is added (and never removed: a sleeping Mac stays a peer).
 *
 * Also the job peers (`jobs.<queue>`, `jobs.<queue>.<cap>`, `jobs.<queue>.<all caps>`), one per
 * queue and capability set some worker in presence serves, so the agent can send
 * `a2a:jobs.default.gpu`. Added when a worker shows them, never removed (a removal rewrites the
 * gateway's config, and its A2A channel forgets the tasks in flight when it reloads).
 */
export class PeerSync {
  private timer?: NodeJS.Timeout;
  private registry?: KV;
  private presence?: KV;
  private busy?: Promise<void>;

  constructor(
    private readonly opts: { self: string; table: A2APeerTable; log: Logger; everyMs?: number },
  ) {}

  /** First sync now (before the inbox delivers anything), then every few seconds. */
  async start(nc: NatsConnection): Promise<void> {
    const kvm = new Kvm(nc);
    this.registry = await kvm.open(BUCKETS.identities);
    this.presence = await kvm.open(BUCKETS.presence);
    await this.run();
    this.timer = setInterval(() => void this.run().catch((err: Error) => this.opts.log.warn({ err: err.message }, "A2A peer sync failed")), this.opts.everyMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Adds one identity now (a message from a peer the gateway does not know yet). */
  async add(id: string): Promise<void> {
    if (!this.registry) return; // not started
    await this.run([id]);
  }

  /** The job peers the workers in presence can serve. */
  private async jobPeers(): Promise<string[]> {
    const out = new Set<string>();
    for (const e of await liveEntries(this.presence!)) {
      let p: Presence;
      try {
        p = presenceSchema.parse(e.json());
      } catch {
        continue;
      }
      for (const name of jobPeersOf(p)) out.add(name);
    }
    return [...out];
  }

  private async keys(kv: KV): Promise<string[]> {
    return (await liveKeys(kv)).filter((k) => isIdentity(k));
  }

  private run(extra: string[] = []): Promise<void> {
    const next = (this.busy ?? Promise.resolve()).then(async () => {
      const registered = await this.keys(this.registry!);
      const ids = new Set(registered.length ? registered : [...this.opts.table.ids(), ...(await this.keys(this.presence!)), ...extra]);
      if (registered.length) for (const id of extra) if (registered.includes(id)) ids.add(id);
      ids.delete(this.opts.self);
      for (const id of this.opts.table.ids()) if (parseJobPeer(id)) ids.add(id);
      for (const id of await this.jobPeers()) ids.add(id);
      const r = this.opts.table.sync([...ids]);
      if (r.tightened.length) {
        this.opts.log.warn({ files: r.tightened }, "the gateway config holds the A2A peers' tokens but was readable by other local users: made it 0600");
      }
      if (r.added.length || r.removed.length || r.wrote) {
        this.opts.log.info({ added: r.added, removed: r.removed, gatewayConfig: r.wrote ? "rewritten (the gateway hot-reloads channels.a2a)" : "unchanged" }, "A2A peers in step with the mesh");
      }
    });
    this.busy = next.catch(() => undefined);
    return next;
  }
}

/** A worker's job peers: per queue it serves, any worker, each capability alone, and all of them together. */
export function jobPeersOf(p: Presence): string[] {
  const out: string[] = [];
  const caps = [...new Set(p.capabilities)].sort();
  for (const queue of p.queues ?? []) {
    try {
      for (const needs of [[], ...caps.map((c) => [c]), ...(caps.length > 1 ? [caps] : [])]) {
        const name = jobPeerName(queue, needs);
        if (name) out.push(name);
      }
    } catch {
      // A queue or capability that is not a valid name (another sidecar's bad presence): skip it.
    }
  }
  return out;
}
