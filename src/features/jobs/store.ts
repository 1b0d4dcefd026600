import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS } from "../../../subjects/names.js";
import { jobRecordSchema, recordWriterAllowed, type JobRecord } from "../../../subjects/mod.js";
import type { Signer } from "../../../subjects/signing.js";
import { isWrongLastSequence } from "../../base/nats-errors.js";
import { createLogger } from "../../base/log.js";
import { signerOf } from "../../bus/connection.js";
import { MeshVerifier } from "../../bus/verify.js";

export interface StoredRecord {
  record: JobRecord;
  revision: number;
  /** Why this version cannot be trusted (bad or missing signature, a writer who may not write it). */
  refused?: string;
}

/**
 * Job records in the mesh-jobs bucket (key = job id). Every identity may write the bucket, so each
 * version is signed by its writer (`by`) and checked by every reader: a record an attacker
 * rewrote reads as refused, never as the job's state. Updates use compare-and-set revisions.
 */
export class JobStore {
  private constructor(
    readonly kv: KV,
    private readonly signer: Signer | undefined,
    private readonly verifier: MeshVerifier,
    private readonly self: string | undefined,
  ) {}

  static async open(nc: NatsConnection, self?: string): Promise<JobStore> {
    const verifier = await MeshVerifier.open(nc, createLogger({ name: "jobs", level: "silent" }));
    return new JobStore(await new Kvm(nc).open(BUCKETS.jobs), signerOf(nc), verifier, self);
  }

  /** A secure mesh: records are signed and checked. */
  get secure(): boolean {
    return this.verifier.secure;
  }

  private encode(r: JobRecord): string {
    const stamped: JobRecord = { ...r, sig: undefined, ...(this.self ? { by: this.self } : {}) };
    return JSON.stringify(this.signer ? this.signer.signRecord(stamped) : stamped);
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== "PUT") return undefined;
    const parsed = jobRecordSchema.safeParse(safeJson(e.string()));
    if (!parsed.success) return undefined;
    const record = parsed.data;
    if (!this.verifier.secure) return { record, revision: e.revision };
    const role = recordWriterAllowed(record);
    if (role) return { record, revision: e.revision, refused: role };
    const v = await this.verifier.verifyRecord(record, record.by!);
    return v.ok ? { record, revision: e.revision } : { record, revision: e.revision, refused: v.reason };
  }

  async create(record: JobRecord): Promise<void> {
    await this.kv.create(record.id, this.encode(record));
  }

  /**
   * Read-modify-write with a revision check; retries when another writer got there first. A
   * version that fails its check is not built upon: `base` (from the signed job itself) is.
   */
  async update(id: string, change: (r: JobRecord) => JobRecord | undefined, base?: JobRecord): Promise<JobRecord | undefined> {
    for (let i = 0; i < 10; i++) {
      const cur = await this.get(id);
      const from = cur && !cur.refused ? cur.record : base;
      if (!from) return undefined;
      const next = change(from);
      if (!next) return from;
      try {
        if (cur) await this.kv.update(id, this.encode(next), cur.revision);
        else await this.kv.create(id, this.encode(next));
        return next;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`job ${id}: too many concurrent updates`);
  }

  async list(): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    const keys = await this.kv.keys();
    for await (const k of keys) {
      const r = await this.get(k);
      if (r) out.push(r);
    }
    return out.sort((a, b) => a.record.submittedAt.localeCompare(b.record.submittedAt));
  }
}

function safeJson(t: string): unknown {
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}
