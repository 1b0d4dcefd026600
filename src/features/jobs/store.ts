import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS } from "../../../subjects/names.js";
import { jobRecordSchema, type JobRecord } from "../../../subjects/mod.js";
import { isWrongLastSequence } from "../../base/nats-errors.js";

/** Job records in the mesh-jobs bucket (key = job id). Updates use compare-and-set revisions. */
export class JobStore {
  private constructor(readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<JobStore> {
    return new JobStore(await new Kvm(nc).open(BUCKETS.jobs));
  }

  async get(id: string): Promise<{ record: JobRecord; revision: number } | undefined> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== "PUT") return undefined;
    const parsed = jobRecordSchema.safeParse(safeJson(e.string()));
    return parsed.success ? { record: parsed.data, revision: e.revision } : undefined;
  }

  async create(record: JobRecord): Promise<void> {
    await this.kv.create(record.id, JSON.stringify(record));
  }

  /** Read-modify-write with a revision check; retries when another writer got there first. */
  async update(id: string, change: (r: JobRecord) => JobRecord | undefined): Promise<JobRecord | undefined> {
    for (let i = 0; i < 10; i++) {
      const cur = await this.get(id);
      if (!cur) return undefined;
      const next = change(cur.record);
      if (!next) return cur.record;
      try {
        await this.kv.update(id, JSON.stringify(next), cur.revision);
        return next;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    throw new Error(`job ${id}: too many concurrent updates`);
  }

  async list(): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    const keys = await this.kv.keys();
    for await (const k of keys) {
      const r = await this.get(k);
      if (r) out.push(r.record);
    }
    return out.sort((a, b) => a.submittedAt.localeCompare(b.submittedAt));
  }
}

function safeJson(t: string): unknown {
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}
