import { safeJson } from "../../base/json.js";
import type { JetStreamManager } from "@nats-io/jetstream";
import { hubJetStreamManager, hubKvm } from "../../bus/domain.js";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { JOB_RECORD_TTL_MS } from "../../../broker/definitions.js";
import { provisionIdentity } from "../../../broker/provision.js";
import { jobBucketName, jobBucketOwner, kvSubject } from "../../../subjects/names.js";
import {
  JOB_KEY_KINDS,
  jobKey,
  jobOutcome,
  jobVersionSchema,
  type JobCancel,
  type JobGrants,
  type JobKeyKind,
  type JobOutcome,
  type JobRun,
  type JobSubmission,
  type JobVersion,
  type StoredVersion,
} from "../../../subjects/mod.js";
import type { Signer } from "../../../subjects/signing.js";
import { ApiCodes, apiCode, isNoResponders, isNotFound, isWrongLastSequence } from "../../base/nats-errors.js";
import { openRecord } from "./sealing.js";
import { MeshError } from "../../base/errors.js";
import { createLogger } from "../../base/log.js";
import { signerOf } from "../../bus/connection.js";
import { MeshVerifier } from "../../bus/verify.js";

/** What a writer supplies for a version; `prev`, `by` and `sig` are added when it is written. */
export type SubmissionDraft = Omit<JobSubmission, "prev" | "by" | "sig">;
export type CancelDraft = Omit<JobCancel, "prev" | "by" | "sig">;
export type RunDraft = Omit<JobRun, "prev" | "by" | "sig">;

/** The submitter's own job bucket is full: its own submits are refused, nobody else's. */
export class JobRecordsFullError extends MeshError {
  override name = "JobRecordsFullError";
}

const OWNERS_CACHE_MS = 5000;
const KIND_OF_KEY: Record<JobKeyKind, JobVersion["kind"]> = { sub: "submission", cancel: "cancel", run: "run" };

/**
 * Job records: each identity writes only its own bucket (mesh-jobs-<id>: `sub.<job>` for what it
 * submitted, `run.<job>` for runs it made), which the broker enforces; every reader gathers a job's
 * versions from every bucket by key and applies subjects/job-rules.ts (`cancel.<job>` is the
 * submitter's cancel). Every version is signed,
 * names the revision it replaces and is written with that expected revision (compare-and-set).
 */
export class JobStore {
  private readonly buckets = new Map<string, Promise<KV>>();
  private owners?: { at: number; ids: string[] };
  private ownBucket?: Promise<void>;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly signer: Signer | undefined,
    private readonly verifier: MeshVerifier,
    /** This connection's identity: the only bucket it writes. */
    readonly self: string | undefined,
  ) {}

  static async open(nc: NatsConnection, self?: string): Promise<JobStore> {
    const verifier = await MeshVerifier.open(nc, createLogger({ name: "jobs", level: "silent" }));
    return new JobStore(nc, await hubJetStreamManager(nc), signerOf(nc), verifier, self);
  }

  /** The identity registry this store checks records with (keys and job grants). */
  get registry(): MeshVerifier {
    return this.verifier;
  }

  /** A secure mesh: records are signed and checked, and runs need the worker's grants. */
  get secure(): boolean {
    return this.verifier.secure;
  }

  private bucket(owner: string): Promise<KV> {
    let b = this.buckets.get(owner);
    if (!b) {
      // Bound without a stream info (others' buckets are readable only by key, with direct gets).
      b = hubKvm(this.nc).open(jobBucketName(owner), { allow_direct: true });
      this.buckets.set(owner, b);
    }
    return b;
  }

  /** Every identity that has a job bucket. */
  async bucketOwners(): Promise<string[]> {
    if (this.owners && Date.now() - this.owners.at < OWNERS_CACHE_MS) return this.owners.ids;
    const ids: string[] = [];
    for await (const name of this.jsm.streams.names()) {
      const owner = jobBucketOwner(name);
      if (owner) ids.push(owner);
    }
    this.owners = { at: Date.now(), ids: ids.sort() };
    return this.owners.ids;
  }

  /** One version as stored in `owner`'s bucket, with what its signature check found. */
  private async version(owner: string, kind: JobKeyKind, id: string): Promise<StoredVersion<JobVersion> | undefined> {
    const bucket = jobBucketName(owner);
    let m;
    try {
      // A direct get by key (the subject names a job record key: what every identity may read).
      m = await this.jsm.direct.getMessage(`KV_${bucket}`, { last_by_subj: kvSubject(bucket, jobKey(kind, id)) });
    } catch (err) {
      // A bucket removed since it was listed (a revoked identity) holds nothing.
      if (isNotFound(err) || isNoResponders(err)) return undefined;
      throw err;
    }
    if (!m || (m.header?.get("KV-Operation") ?? "") !== "") return undefined;
    const parsed = jobVersionSchema.safeParse(safeJson(m.string()));
    const base = { owner, revision: m.seq, created: m.time };
    if (!parsed.success || parsed.data.kind !== KIND_OF_KEY[kind] || parsed.data.id !== id) {
      return undefined; // not a job record of this key: nothing to show as the job's
    }
    const value = parsed.data;
    const chain = chainRefusal(value.prev, m.header?.get(EXPECTED_LAST_SUBJECT_SEQ));
    if (chain) return { value, ...base, refused: chain };
    if (!this.verifier.secure) return { value, ...base };
    const v = await this.verifier.verifyRecord(value, value.by);
    return v.ok ? { value, ...base } : { value, ...base, refused: v.reason };
  }

  /** Every stored version of a job, from every bucket, and the state the rules give them. */
  async read(id: string, alsoOwners: string[] = []): Promise<JobOutcome> {
    // A bucket made in the last seconds may not be in the cached list yet: name it (the job's submitter).
    const owners = [...new Set([...(await this.bucketOwners()), ...alsoOwners])];
    const found = await Promise.all(owners.flatMap((o) => JOB_KEY_KINDS.map((k) => this.version(o, k, id))));
    const of = <K extends JobVersion["kind"]>(kind: K) => found.filter((v): v is StoredVersion<Extract<JobVersion, { kind: K }>> => v?.value.kind === kind);
    const runs = of("run");
    const grants = new Map<string, JobGrants | undefined>();
    if (this.verifier.secure) for (const r of runs) if (!grants.has(r.owner)) grants.set(r.owner, await this.verifier.grantsOf(r.owner));
    const outcome = jobOutcome({ subs: of("submission"), cancels: of("cancel"), runs }, { secure: this.verifier.secure, grantsOf: (w) => grants.get(w) });
    // A sealed task and result as this connection reads them (opened, or "[sealed for …]").
    return outcome.record ? { ...outcome, record: openRecord(this.nc, outcome.record) } : outcome;
  }

  /** The submitter's cancel of a job, if it made one (a running worker watches for it). */
  async cancelled(submitter: string, id: string): Promise<boolean> {
    const v = await this.version(submitter, "cancel", id);
    return v !== undefined && !v.refused && v.value.by === submitter;
  }

  /** The ids of every job in these buckets (own bucket: what it submitted and ran; admin: all). */
  async ids(owners: string[]): Promise<string[]> {
    const out = new Set<string>();
    for (const o of owners) {
      const kv = await this.bucket(o);
      for await (const k of await kv.keys()) {
        const m = /^(?:sub|cancel|run)\.(.+)$/.exec(k);
        if (m) out.add(m[1]!);
      }
    }
    return [...out];
  }

  /** Writes this identity's submission of a job: once, before the job is offered. */
  async submit(draft: SubmissionDraft): Promise<void> {
    await this.write("sub", draft.id, (cur) => (cur ? undefined : draft));
  }

  /** Writes this identity's cancel of a job it submitted (once). */
  async cancel(draft: CancelDraft): Promise<void> {
    await this.write("cancel", draft.id, (cur) => (cur ? undefined : draft));
  }

  /** Writes the next version of this identity's own run of `id` (compare-and-set). */
  writeRun(id: string, change: (cur: JobRun | undefined) => RunDraft | undefined): Promise<JobRun | undefined> {
    return this.write("run", id, (cur) => change(cur?.kind === "run" ? cur : undefined)) as Promise<JobRun | undefined>;
  }

  /**
   * Its own bucket must exist before a write (a direct get of a missing bucket only times out). An
   * open mesh makes an identity's streams on first use; on a secure mesh the admin does.
   */
  private async ensureOwnBucket(self: string): Promise<void> {
    try {
      await this.jsm.streams.info(`KV_${jobBucketName(self)}`);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!this.secure) {
      await provisionIdentity(this.jsm, self);
      return;
    }
    throw new MeshError(`${self} has no job bucket (${jobBucketName(self)}): the admin makes it with \`mesh broker add-identity ${self}\` (or \`mesh broker provision --for ${self}\`)`);
  }

  private async write(kind: JobKeyKind, id: string, change: (cur: JobVersion | undefined) => Omit<JobVersion, "prev" | "by" | "sig"> | undefined): Promise<JobVersion | undefined> {
    const self = this.self;
    if (!self) throw new MeshError("writing a job record needs this connection's identity");
    await (this.ownBucket ??= this.ensureOwnBucket(self).catch((err: unknown) => {
      this.ownBucket = undefined;
      throw err;
    }));
    const kv = await this.bucket(self);
    const key = jobKey(kind, id);
    for (let i = 0; i < 10; i++) {
      try {
        const e = await kv.get(key);
        const cur = e && e.operation === "PUT" ? jobVersionSchema.safeParse(safeJson(e.string())) : undefined;
        const draft = change(cur?.success ? cur.data : undefined);
        if (!draft) return cur?.success ? cur.data : undefined;
        const prev = e?.revision ?? 0;
        const version = { ...draft, prev, by: self, sig: undefined } as JobVersion;
        const signed = this.signer ? this.signer.signRecord(version) : version;
        if (prev === 0) await kv.create(key, JSON.stringify(signed));
        else await kv.update(key, JSON.stringify(signed), prev);
        return signed;
      } catch (err) {
        if (isWrongLastSequence(err)) continue;
        if (apiCode(err) === ApiCodes.StreamStoreFailed) {
          throw new JobRecordsFullError(
            `${self}'s job records are full (bucket ${jobBucketName(self)}); they expire ${Math.round(JOB_RECORD_TTL_MS / 86_400_000)} days after their last change, or the admin can raise the limit`,
            1,
            { cause: err },
          );
        }
        throw err;
      }
    }
    throw new MeshError(`job ${id}: too many concurrent updates`);
  }
}

/** The header the server checked the version's expected revision against (it keeps it with the message). */
const EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence";

/**
 * A version is a true successor of the revision it names: the server accepted it only because that
 * revision was the key's last one when it was written (the expected-revision header it stored). A
 * version put without one, or over another revision, is an old version put back (a rollback or a
 * replay) and is refused by every reader.
 */
export function chainRefusal(prev: number, expected: string | undefined): string | undefined {
  if (expected === undefined || expected === "") return `written without an expected revision (put over whatever was there: a rollback or a replay of version ${prev})`;
  if (Number(expected) !== prev) return `names revision ${prev} as the one it replaces, but was written over revision ${expected} (a rollback or a replay)`;
  return undefined;
}

