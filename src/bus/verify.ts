import { safeJson } from "../base/json.js";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { z } from "zod";
import type { JobGrants } from "../../subjects/job-rules.js";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS } from "../../subjects/names.js";
import type { Envelope } from "../../subjects/envelope-core.js";
import { checkBinding, checkFreshness, verifyEnvelope, verifyRecord, type Binding, type Verdict } from "../../subjects/signing.js";
import type { Logger } from "../base/log.js";
import { firstLine } from "../base/nats-errors.js";
import { signerOf } from "./connection.js";
import { liveEntries, storesAny } from "./kv-read.js";

export type { Verdict } from "../../subjects/signing.js";

const CACHE_MS = 30_000;

/** What a check needs besides the envelope: who it must be for, where it arrived, when it was stored. */
export interface Check extends Binding {
  /** When the broker stored it (JetStream), or when it arrived (core NATS); default now. */
  at?: Date;
}

/**
 * Checks that an envelope is what it claims: signed by its `from` (key in mesh-identities), for
 * this recipient and subject, and fresh. Fails closed: a connection made with an nkey is a secure
 * mesh, so a missing or unreadable registry refuses (with `retry`, so a message waits rather than
 * being dead-lettered), never waves a message through. On an open mesh (no credentials and an
 * empty registry) only the binding is checked.
 */
export class MeshVerifier {
  private cache = new Map<string, { entry: RegistryEntry; at: number }>();

  private constructor(
    private readonly kv: KV | undefined,
    readonly secure: boolean,
    private readonly openError: string | undefined,
  ) {}

  static async open(nc: NatsConnection, log: Logger): Promise<MeshVerifier> {
    const withKey = signerOf(nc) !== undefined;
    let kv: KV | undefined;
    let any = false;
    let openError: string | undefined;
    try {
      kv = await new Kvm(nc).open(BUCKETS.identities);
      // With a key the mesh is secure whatever the registry holds: no need to list it (a consumer's
      // round trips on every CLI command that verifies).
      if (!withKey) {
        any = await storesAny(kv);
      }
    } catch (err) {
      openError = firstLine(err);
    }
    const secure = withKey || any;
    if (secure) log.info("secure mesh: verifying the sender of every message, reply, event and job");
    if (secure && openError) log.error({ err: openError }, "identity registry unreadable: refusing everything until it can be read");
    return new MeshVerifier(kv, secure, openError);
  }

  async verify(env: Envelope, check: Check = {}): Promise<Verdict> {
    const bound = checkBinding(env, check);
    if (!bound.ok || !this.secure) return bound;
    const fresh = checkFreshness(env, check.at ?? new Date());
    if (!fresh.ok) return fresh;
    const key = await this.keyOf(env.from);
    if (typeof key === "object") return key;
    return verifyEnvelope(env, key);
  }

  /** A signed record (job record, alert transition) written by `writer`; open mesh: accepted. */
  async verifyRecord(record: { sig?: string | undefined }, writer: string): Promise<Verdict> {
    if (!this.secure) return { ok: true };
    const key = await this.keyOf(writer);
    if (typeof key === "object") return key;
    return verifyRecord(record, writer, key);
  }

  /**
   * What the admin granted `id` for jobs (from the registry); undefined when the registry does not
   * say (an open mesh, an unregistered identity, a registry written by an earlier version).
   */
  async grantsOf(id: string): Promise<JobGrants | undefined> {
    const e = await this.entryOf(id);
    return "grants" in e ? e.grants : undefined;
  }

  /**
   * Every registered identity the admin granted `queue` and all of `needs` (the workers that may
   * run such a job); empty on an open mesh. Throws when the registry cannot be listed.
   */
  async grantedFor(queue: string, needs: readonly string[]): Promise<string[]> {
    if (!this.kv || !this.secure) return [];
    // One listing reads every entry (side by side); each is remembered as entryOf would read it.
    const entries = await liveEntries(this.kv);
    return entries
      .map((e) => [e.key, this.remember(e.key, e).grants] as const)
      .filter(([, g]) => g !== undefined && g.queues.includes(queue) && needs.every((n) => g.capabilities.includes(n)))
      .map(([id]) => id)
      .sort();
  }

  private async keyOf(id: string): Promise<string | undefined | Verdict> {
    const e = await this.entryOf(id);
    return "ok" in e ? e : e.key;
  }

  private async entryOf(id: string): Promise<RegistryEntry | Verdict> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at <= CACHE_MS) return hit.entry;
    if (!this.kv) return { ok: false, reason: `identity registry unreadable (${this.openError ?? "not opened"}): cannot check ${id}'s key`, retry: true };
    let e: KvEntry | null;
    try {
      e = await this.kv.get(id);
    } catch (err) {
      // A missing key reads as null; anything thrown (bucket gone, denied, broker away) is "cannot tell now".
      return { ok: false, reason: `identity registry unreadable (${firstLine(err)}): cannot check ${id}'s key`, retry: true };
    }
    return this.remember(id, e);
  }

  /** A registry entry as read (absent, deleted or malformed: no key), cached for CACHE_MS. */
  private remember(id: string, e: KvEntry | null): RegistryEntry {
    let entry: RegistryEntry = { key: undefined };
    if (e && e.operation === "PUT") {
      const v = registryValueSchema.safeParse(safeJson(e.string()));
      if (v.success) {
        entry = { key: v.data.publicKey, ...(v.data.queues && v.data.capabilities ? { grants: { queues: v.data.queues, capabilities: v.data.capabilities } } : {}) };
      }
    }
    this.cache.set(id, { entry, at: Date.now() });
    return entry;
  }
}

interface RegistryEntry {
  key: string | undefined;
  grants?: JobGrants;
}

/** A registry value (written by the admin, `broker/auth.ts` syncIdentityRegistry). */
const registryValueSchema = z.object({
  publicKey: z.string(),
  queues: z.array(z.string()).optional(),
  capabilities: z.array(z.string()).optional(),
});

