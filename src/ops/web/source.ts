import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { BUCKETS, STREAMS, dlqStreamName, inboxConsumerName, inboxStreamName, jobBucketName, kvSubject, streamOwner } from "../../../subjects/names.js";
import { ALL_DLQ, ALL_EVENTS, ALL_INBOXES } from "../../../subjects/subjects.js";
import { firstLine, isAbsentOrDenied, isNotFound, permissionDenied } from "../../base/nats-errors.js";
import type { Logger } from "../../base/log.js";
import type { MeshModel } from "./model.js";
import { inboxOwners } from "../../../broker/status.js";
import { JOB_KEY_KINDS } from "../../../subjects/job-rules.js";
import { JobStore } from "../../features/jobs/store.js";
import { replayDirect } from "../../bus/replay.js";
import { followKv } from "../../bus/kv-read.js";
import { linkLine, linkState } from "../leaf-link.js";

/**
 * Every NATS read of the web view, in one place: names come from subjects/ only. Reads with this
 * identity's own connection, so it sees what its credential may see; a denial is shown on the
 * page as "not visible to this identity", never as an error.
 *
 *   presence      KV watch on BUCKETS.presence        (live; ages computed by the model's tick)
 *   identities    KV watch on BUCKETS.identities      (keys only: every registered identity is a node)
 *   jobs          its own job bucket at start; then a core subscription on every job bucket's keys
 *                 ($KV.*.sub.*, $KV.*.run.*), each write re-read by the rules every reader applies
 *   events        core subscription on ALL_EVENTS    (live) + the last hour replayed from STREAMS.events
 *   messages      core subscription on ALL_INBOXES   (live; denied on a secure mesh → events only)
 *   dead letters  core subscription on ALL_DLQ       (live) + the last 20 of each DLQ-<id> it may read
 *   inboxes       consumer info of each identity's inbox consumer, every pollMs (one request each)
 *   link          leaf mode: this Mac's link to the hub (leaf-link.ts), every pollMs
 */
export interface SourceOptions {
  nc: NatsConnection;
  self: string;
  model: MeshModel;
  log: Logger;
  /** How often inbox depths are read (default 2 s). */
  inboxPollMs?: number;
  /** Replay this much of EVENTS at start (default 1 h; 0: none). */
  replayMs?: number;
  /** Leaf mode: this Mac (config `leaf`), whose link to the hub the page shows. */
  leaf?: { mac: string; stateDir: string };
}

const DENIED_RECHECK_MS = 30_000;
const REPLAY_MAX = 20_000;
const RECENT_DEAD_LETTERS = 20;

export class MeshSource {
  private readonly subs: Subscription[] = [];
  private readonly stops: Array<() => void> = [];
  private jsm?: JetStreamManager;
  private stopped = false;
  private readonly deniedUntil = new Map<string, number>();
  /** The server's own words for each subject it refused this connection (from the status stream). */
  private readonly denials = new Map<string, string>();
  private readonly refusedDirect = new Map<string, { until: number; why: string }>();
  private jobs?: JobStore;
  private readonly refusedJobVersions = new Set<string>();

  constructor(private readonly opts: SourceOptions) {}

  async start(): Promise<void> {
    const { nc, model } = this.opts;
    model.brokerChanged("connected", { server: nc.getServer(), ...(nc.info?.version ? { version: nc.info.version } : {}) });
    void this.watchStatus();
    this.jsm = await jetstreamManager(nc, { timeout: 2000 });
    this.subscribe(ALL_EVENTS, (s, d) => model.event(s, d), () => undefined);
    this.subscribe(ALL_INBOXES, (s, d) => model.inboxMessage(s, d), (why) => this.flowsDenied(why));
    this.subscribe(ALL_DLQ, (s, d) => model.deadLetter(s, d), () => model.visibilityChanged({ deadLetters: false }));
    await Promise.all([
      this.watchKv(BUCKETS.presence, (k, v) => model.presenceChanged(k, v)),
      this.watchJobs(),
      // On a secure mesh the registry names every identity, even one never started.
      this.watchKv(BUCKETS.identities, (k, v) => v !== undefined && model.identitySeen(k)),
    ]);
    void this.replayEvents();
    void this.recentDeadLetters();
    void this.pollInboxes();
    if (this.opts.leaf) void this.pollLink(this.opts.leaf);
  }

  /** Leaf mode: the link's line (the same as `mesh top`), read every pollMs; answers at once offline. */
  private async pollLink(leaf: { mac: string; stateDir: string }): Promise<void> {
    while (!this.stopped) {
      try {
        const s = await linkState(this.opts.nc, leaf.mac, leaf.stateDir, [this.opts.self]);
        this.opts.model.linkChanged({ mac: leaf.mac, connected: s.connected, line: linkLine(leaf.mac, s) });
      } catch (err) {
        this.opts.model.linkChanged({ mac: leaf.mac, connected: false, line: `cannot read this Mac's leaf layout: ${firstLine(err)}` });
      }
      await new Promise((r) => setTimeout(r, this.opts.inboxPollMs ?? 2000).unref());
    }
  }

  private flowsDenied(serverSaid: string): void {
    this.opts.model.visibilityChanged({
      flows: false,
      note: `other identities' inboxes are not visible to this identity (${serverSaid}); messages are shown from their delivery events`,
    });
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.subs) s.unsubscribe();
    for (const f of this.stops) f();
  }

  private subscribe(subject: string, onMsg: (subject: string, data: Uint8Array) => void, onDenied: (serverSaid: string) => void): void {
    const sub = this.opts.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) {
          if (permissionDenied(err)) onDenied(firstLine(err));
          else this.opts.log.warn({ subject, err: err.message }, "subscription error");
          return;
        }
        onMsg(msg.subject, msg.data);
      },
    });
    void sub.closed.then((err) => {
      if (err && permissionDenied(err)) onDenied(firstLine(err));
    });
    this.subs.push(sub);
  }

  private async watchStatus(): Promise<void> {
    const { nc, model, log } = this.opts;
    for await (const s of nc.status()) {
      const pv = s.type === "error" ? permissionDenied(s.error) : undefined;
      if (pv) {
        this.denials.set(pv.subject, firstLine(pv));
        if (pv.operation === "subscription" && pv.subject === ALL_INBOXES) this.flowsDenied(firstLine(pv));
        if (pv.operation === "subscription" && pv.subject === ALL_DLQ) model.visibilityChanged({ deadLetters: false });
      }
      if (s.type === "disconnect") model.brokerChanged("reconnecting");
      else if (s.type === "reconnect") {
        model.brokerChanged("connected", { server: nc.getServer(), ...(nc.info?.version ? { version: nc.info.version } : {}) });
        log.info("broker connection back");
      }
    }
    if (!this.stopped) model.brokerChanged("disconnected");
  }

  /**
   * Jobs as every reader sees them (subjects/job-rules.ts): a version the rules refuse (a rewrite,
   * a replay, a claim without a grant) is counted as unreadable, never shown as the job's state.
   */
  private async watchJobs(): Promise<void> {
    const store = (this.jobs ??= await JobStore.open(this.opts.nc, this.opts.self));
    for (const kind of JOB_KEY_KINDS) {
      this.subscribe(`$KV.*.${kind}.*`, (subject) => {
        const id = subject.split(".")[3];
        if (id) void this.jobChanged(id).catch((err: Error) => this.opts.log.warn({ id, err: err.message }, "job record unreadable"));
      }, () => undefined);
    }
    for (const id of await store.ids([this.opts.self]).catch(() => [] as string[])) await this.jobChanged(id);
  }

  private async jobChanged(id: string): Promise<void> {
    const o = await this.jobs!.read(id);
    for (const r of o.refused) {
      const key = `${r.writer}/${r.key}/${r.revision}`;
      if (this.refusedJobVersions.has(key)) continue;
      this.refusedJobVersions.add(key);
      this.opts.model.recordRefused(kvSubject(jobBucketName(r.writer), r.key), 0, `job record refused: ${r.reason}`);
    }
    if (o.record) this.opts.model.jobChanged(id, JSON.stringify(o.record));
  }

  private async watchKv(bucket: string, onChange: (key: string, value: string | undefined) => void): Promise<void> {
    try {
      const kv = await new Kvm(this.opts.nc).open(bucket);
      // By direct get, holding no consumer on the shared bucket (src/bus/kv-read.ts).
      const stop = new AbortController();
      this.stops.push(() => stop.abort());
      void followKv(kv, (e) => onChange(e.key, e.operation === "PUT" ? e.string() : undefined), stop.signal).catch((err: Error) => {
        if (isAbsentOrDenied(err)) this.opts.log.warn({ bucket, err: err.message }, "bucket not readable");
        else this.opts.log.warn({ bucket, err: err.message }, "watch ended");
      });
    } catch (err) {
      if (!isAbsentOrDenied(err)) throw err;
      this.opts.log.warn({ bucket, err: (err as Error).message }, "bucket not readable");
    }
  }

  /** The last hour of events (chart, recent activity), each envelope once with the live feed. */
  private async replayEvents(): Promise<void> {
    const replayMs = this.opts.replayMs ?? 3_600_000;
    if (replayMs <= 0) return;
    try {
      // By direct get: an identity holds no consumer on the shared EVENTS stream (src/bus/replay.ts).
      const stop = new AbortController();
      this.stops.push(() => stop.abort());
      await replayDirect(this.opts.nc, STREAMS.events, { pattern: ALL_EVENTS, sinceMs: replayMs, max: REPLAY_MAX, signal: stop.signal }, (m) =>
        this.opts.model.event(m.subject, m.data, m.time),
      );
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "could not replay the last hour of events");
    }
  }

  private async recentDeadLetters(): Promise<void> {
    // Each identity's dead letters are its own stream (DLQ-<id>): this credential reads its own
    // (the admin reads all); the others are refused by the server and not shown.
    const streams: string[] = [];
    try {
      for await (const name of this.jsm!.streams.names(ALL_DLQ)) if (streamOwner(name)) streams.push(name);
    } catch (err) {
      if (!isAbsentOrDenied(err)) this.opts.log.warn({ err: (err as Error).message }, "could not list dead-letter streams");
      return;
    }
    for (const stream of streams) {
      try {
        const si = await this.jsm!.streams.info(stream);
        const from = Math.max(si.state.first_seq, si.state.last_seq - RECENT_DEAD_LETTERS + 1);
        for (let seq = from; seq <= si.state.last_seq && si.state.messages > 0; seq++) {
          const m = await this.jsm!.streams.getMessage(stream, { seq });
          if (m) this.opts.model.deadLetter(m.subject, m.data, m.time);
        }
      } catch (err) {
        if (!isAbsentOrDenied(err)) this.opts.log.warn({ err: (err as Error).message, stream }, "could not read recent dead letters");
        else if (stream === dlqStreamName(this.opts.self) && !isNotFound(err)) this.opts.model.visibilityChanged({ deadLetters: false });
      }
    }
  }

  /** When the oldest unacknowledged message of an inbox was stored (a direct get: may be refused). */
  private async oldestWaiting(id: string, fromSeq: number): Promise<{ oldestWaiting?: string; oldestNotVisible?: string }> {
    const key = `direct:${id}`;
    const refused = this.refusedDirect.get(key);
    if (refused && refused.until > Date.now()) return { oldestNotVisible: refused.why };
    try {
      const m = await this.jsm!.direct.getMessage(inboxStreamName(id), { seq: fromSeq });
      return m ? { oldestWaiting: m.time.toISOString() } : {};
    } catch (err) {
      if (!isAbsentOrDenied(err)) throw err;
      const said = permissionDenied(err) ? firstLine(err) : this.deniedSubject(`.DIRECT.GET.${inboxStreamName(id)}`);
      const why = said ? `not visible to this identity (${said})` : "not visible to this identity";
      this.refusedDirect.set(key, { until: Date.now() + DENIED_RECHECK_MS, why });
      return { oldestNotVisible: why };
    }
  }

  /** The server's refusal of a JetStream API subject ending like this, if it reported one. */
  private deniedSubject(suffix: string): string | undefined {
    for (const [subject, text] of this.denials) if (subject.endsWith(suffix)) return text;
    return undefined;
  }

  private async pollInboxes(): Promise<void> {
    const every = this.opts.inboxPollMs ?? 2000;
    while (!this.stopped) {
      await this.readInboxes().catch((err: Error) => this.opts.log.warn({ err: err.message }, "inbox poll failed"));
      await new Promise((r) => setTimeout(r, every).unref());
    }
  }

  private async readInboxes(): Promise<void> {
    const jsm = this.jsm!;
    const ids = new Set<string>([this.opts.self, ...this.opts.model.knownIdentities()]);
    const now = Date.now();
    if ((this.deniedUntil.get("*") ?? 0) <= now) {
      try {
        for (const id of await inboxOwners(jsm)) ids.add(id);
      } catch (err) {
        if (!isAbsentOrDenied(err)) throw err;
        if (!isNotFound(err)) this.deniedUntil.set("*", now + DENIED_RECHECK_MS);
      }
    }
    for (const id of ids) {
      if (this.stopped) return;
      if ((this.deniedUntil.get(id) ?? 0) > now) continue;
      this.opts.model.identitySeen(id);
      try {
        const ci = await jsm.consumers.info(inboxStreamName(id), inboxConsumerName(id));
        const unacked = ci.num_pending + ci.num_ack_pending;
        const oldest = unacked > 0 ? await this.oldestWaiting(id, ci.ack_floor.stream_seq + 1) : {};
        this.opts.model.inboxChanged(id, { visible: true, waiting: ci.num_pending, inFlight: ci.num_ack_pending, ...oldest });
      } catch (err) {
        if (isNotFound(err)) continue; // no inbox consumer (yet) for this identity
        if (!isAbsentOrDenied(err)) throw err;
        this.deniedUntil.set(id, now + DENIED_RECHECK_MS);
        // nats-server answers a denied API request with nothing and reports the violation on the
        // connection: show its own words when it did.
        const said = permissionDenied(err) ? firstLine(err) : this.deniedSubject(`.CONSUMER.INFO.${inboxStreamName(id)}.${inboxConsumerName(id)}`);
        this.opts.model.inboxChanged(id, { visible: false, why: "not visible to this identity", ...(said ? { serverSaid: said } : {}) });
      }
    }
  }
}

