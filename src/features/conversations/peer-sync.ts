import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS } from "../../../subjects/names.js";
import { isIdentity } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import type { A2APeerTable } from "../../agent/openclaw-a2a/peers.js";

/**
 * Keeps the gateway's A2A peers equal to the mesh's identities, so every identity is addressable
 * as `a2a:<id>` on every gateway with no manual edit. On a secure mesh the identity registry
 * (mesh-identities, written by the admin) is the list: a revoked identity is removed. On an open
 * mesh every identity seen in presence is added (and never removed: a sleeping Mac stays a peer).
 */
export class PeerSync {
  private timer?: NodeJS.Timeout;
  private registry?: KV;
  private presence?: KV;
  private busy?: Promise<void>;

  constructor(
    private readonly o: { self: string; table: A2APeerTable; log: Logger; everyMs?: number },
  ) {}

  /** First sync now (before the inbox delivers anything), then every few seconds. */
  async start(nc: NatsConnection): Promise<void> {
    const kvm = new Kvm(nc);
    this.registry = await kvm.open(BUCKETS.identities);
    this.presence = await kvm.open(BUCKETS.presence);
    await this.run();
    this.timer = setInterval(() => void this.run().catch((err: Error) => this.o.log.warn({ err: err.message }, "A2A peer sync failed")), this.o.everyMs ?? 5000);
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

  private async keys(kv: KV): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await kv.keys()) if (isIdentity(k)) out.push(k);
    return out;
  }

  private run(extra: string[] = []): Promise<void> {
    const next = (this.busy ?? Promise.resolve()).then(async () => {
      const registered = await this.keys(this.registry!);
      const ids = new Set(registered.length ? registered : [...this.o.table.ids(), ...(await this.keys(this.presence!)), ...extra]);
      if (registered.length) for (const id of extra) if (registered.includes(id)) ids.add(id);
      ids.delete(this.o.self);
      const r = this.o.table.sync([...ids]);
      if (r.added.length || r.removed.length || r.wrote) {
        this.o.log.info({ added: r.added, removed: r.removed, gatewayConfig: r.wrote ? "rewritten (the gateway hot-reloads channels.a2a)" : "unchanged" }, "A2A peers in step with the mesh");
      }
    });
    this.busy = next.catch(() => undefined);
    return next;
  }
}
