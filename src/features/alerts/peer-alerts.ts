import { safeJson } from "../../base/json.js";
import { hostname } from "node:os";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS } from "../../../subjects/names.js";
import { PEER_ALERTS_SESSION_KEY, presenceSchema } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import type { EventPublisher } from "../../bus/events.js";
import type { AgentPort } from "../../agent/port.js";
import { isWrongLastSequence } from "../../base/nats-errors.js";
import { formatDuration } from "../../base/duration.js";
import { firstLine, permissionDenied } from "../../base/nats-errors.js";
import { signerOf } from "../../bus/connection.js";
import type { MeshVerifier } from "../../bus/verify.js";
import { liveEntries } from "../../bus/kv-read.js";

export interface PeerAlertConfig {
  channel: string;
  to: string;
  downAfterMs: number;
}

interface AlertRecord {
  state: "up" | "down";
  since: string;
  lastSeen: string;
  /** The alerter that recorded it, and its signature (secure mesh): a forged transition is not believed. */
  by?: string;
  sig?: string;
}

/**
 * Peer-down alerts, once for the whole mesh. Every sidecar with `alerts` configured competes for a
 * lease (key "alerter" in the mesh-leader bucket, TTL 15 s, renewed every few seconds); only the
 * holder watches presence. A peer silent for downAfterMs is reported down, and back online when it
 * returns, and each transition is recorded with a compare-and-set on its key in mesh-alerts, so even
 * two leaders during a hand-over cannot both alert.
 */
export class PeerAlerter {
  private timer?: NodeJS.Timeout;
  private leader?: KV;
  private alerts?: KV;
  private presence?: KV;
  private lastSeen = new Map<string, number>();
  private busy = false;
  isLeader = false;

  constructor(
    private readonly opts: {
      nc: NatsConnection;
      self: string;
      verifier?: MeshVerifier;
      config: PeerAlertConfig;
      agent: AgentPort;
      events: EventPublisher;
      log: Logger;
      checkMs?: number;
    },
  ) {}

  async start(): Promise<void> {
    const kvm = new Kvm(this.opts.nc);
    this.leader = await kvm.open(BUCKETS.leader);
    this.alerts = await kvm.open(BUCKETS.alerts);
    this.presence = await kvm.open(BUCKETS.presence);
    this.timer = setInterval(() => void this.tick(), this.opts.checkMs ?? 2000);
    this.timer.unref();
    await this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.isLeader) {
      // Hand over at once instead of waiting for the lease to expire.
      await this.leader?.delete("alerter").catch(() => undefined);
    }
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      this.isLeader = await this.lease();
      if (this.isLeader) await this.check();
    } catch (err) {
      if (permissionDenied(err)) {
        // Only identities the admin granted --alerts may hold the lease and record transitions.
        this.opts.log.error({ err: firstLine(err) }, "not granted peer alerts (mesh broker add-identity <id> --alerts); alerts off");
        if (this.timer) clearInterval(this.timer);
        return;
      }
      this.opts.log.warn({ err: (err as Error).message }, "peer alert check failed");
    } finally {
      this.busy = false;
    }
  }

  private async lease(): Promise<boolean> {
    const kv = this.leader!;
    const value = JSON.stringify({ holder: this.opts.self, host: hostname(), at: new Date().toISOString() });
    const cur = await kv.get("alerter");
    if (!cur || cur.operation !== "PUT") {
      try {
        await kv.create("alerter", value);
        this.opts.log.info("took the peer-alert lease");
        return true;
      } catch (err) {
        if (isWrongLastSequence(err)) return false; // another sidecar took it first
        throw err;
      }
    }
    const holder = (JSON.parse(cur.string()) as { holder?: string }).holder;
    if (holder !== this.opts.self) return false;
    try {
      await kv.update("alerter", value, cur.revision);
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  private async check(): Promise<void> {
    const now = Date.now();
    const present = new Set<string>();
    for (const e of await liveEntries(this.presence!)) {
      const k = e.key;
      const p = presenceSchema.safeParse(JSON.parse(e.string()));
      if (!p.success) continue;
      present.add(k);
      this.lastSeen.set(k, Date.parse(p.data.lastSeen));
    }
    const known = new Set<string>([...present, ...this.lastSeen.keys()]);
    // Every stored transition in one listing (read once, not again per peer).
    const stored = new Map((await liveEntries(this.alerts!)).map((e) => [e.key, e] as const));
    for (const k of stored.keys()) known.add(k);
    for (const peer of known) {
      const e = stored.get(peer);
      const raw = e && e.operation === "PUT" ? (safeJson(e.string()) as AlertRecord | undefined) : undefined;
      const refused = raw ? await this.refusal(raw) : undefined;
      const rec = refused ? undefined : raw;
      const seen = this.lastSeen.get(peer) ?? (rec ? Date.parse(rec.lastSeen) : undefined);
      if (seen === undefined) continue;
      const silent = now - seen;
      const up = present.has(peer) && silent < this.opts.config.downAfterMs;
      const down = silent >= this.opts.config.downAfterMs;
      const next: AlertRecord = { state: up ? "up" : "down", since: new Date().toISOString(), lastSeen: new Date(seen).toISOString() };
      if (refused) {
        // A transition someone forged: not alerted on; replaced by what this alerter observes.
        this.opts.log.warn({ peer, reason: refused }, "refused a peer-alert record; recording the observed state instead");
        await this.alerts!.update(peer, this.sign(next), e!.revision).catch(() => undefined);
        continue;
      }
      if (!rec) {
        if (up) await this.alerts!.create(peer, this.sign(next)).catch(() => undefined);
        continue;
      }
      if (rec.state === "up" && down) await this.transition(peer, next, e!.revision, `⚠️ mesh: ${peer} is offline (last seen ${formatDuration(silent)} ago)`);
      else if (rec.state === "down" && up) await this.transition(peer, next, e!.revision, `✅ mesh: ${peer} is back online`);
    }
  }

  /** Why a stored transition cannot be believed (secure mesh: unsigned, or not signed by its `by`). */
  private async refusal(rec: AlertRecord): Promise<string | undefined> {
    if (!this.opts.verifier?.secure) return undefined;
    if (!rec.by) return "unsigned peer-alert record";
    const v = await this.opts.verifier.verifyRecord(rec, rec.by);
    return v.ok ? undefined : v.reason;
  }

  private sign(state: AlertRecord): string {
    const signer = signerOf(this.opts.nc);
    const stamped: AlertRecord = { ...state, by: this.opts.self };
    return JSON.stringify(signer ? signer.signRecord(stamped) : stamped);
  }

  private async transition(peer: string, next: AlertRecord, revision: number, text: string): Promise<void> {
    try {
      await this.alerts!.update(peer, this.sign(next), revision);
    } catch (err) {
      if (isWrongLastSequence(err)) return; // someone else recorded this transition (and alerted)
      throw err;
    }
    const kind = next.state === "down" ? "down" : "up";
    this.opts.events.emit(kind === "down" ? "peer.down" : "peer.up", { peer, lastSeen: next.lastSeen });
    const res = await this.opts.agent.automation({
      source: "alert",
      rule: "peers",
      eventId: `${peer}-${revision}`,
      text,
      session: PEER_ALERTS_SESSION_KEY,
      deliverTo: { channel: this.opts.config.channel, to: this.opts.config.to },
    });
    if (!res.ok) this.opts.log.error({ peer, kind, reason: res.reason }, "peer alert not accepted by the gateway");
    else this.opts.log.warn({ peer, kind }, "peer alert sent");
  }
}

