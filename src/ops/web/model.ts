import { presenceState, type PeerState } from "../../features/presence/presence.js";
import { safeJson } from "../../base/json.js";
import { z } from "zod";
import {
  deadLetterBody,
  eventBodies,
  jobRecordSchema,
  ownerOf,
  parseEnvelope,
  presenceSchema,
  sidecarEventKinds,
  type Envelope,
  type EventKind,
  type JobState,
} from "../../../subjects/mod.js";

/**
 * The web view's state: what the page shows, built from what the bus reader (source.ts) hands
 * it. Pure (no NATS, no HTTP, no clock of its own), so every rule here is unit-tested. Everything
 * that arrives is validated with zod; what does not validate becomes an "unreadable event",
 * counted, never rendered. Message bodies stay here: the page gets one only when the owner asks.
 */

export type NodeState = PeerState;

export type InboxView =
  | { visible: true; waiting: number; inFlight: number; oldestWaiting?: string; oldestNotVisible?: string }
  | { visible: false; why: string; serverSaid?: string };

export interface NodeView {
  identity: string;
  self: boolean;
  state: NodeState;
  /** Why the state (e.g. "last seen 20s ago", "stopped", "no heartbeat seen"). */
  note: string;
  host?: string;
  version?: string;
  capabilities: string[];
  gateway?: string;
  bridge?: string;
  lastSeen?: string;
  inbox?: InboxView;
}

export type FlowState = "sent" | "delivered" | "retried" | "dead-lettered";

export interface FlowView {
  id: string;
  from?: string;
  to: string;
  kind: string;
  /** Bytes of the stored envelope, when this identity saw the message itself. */
  size?: number;
  at: string;
  state: FlowState;
  attempts?: number;
  latencyMs?: number;
  reason?: string;
  /**
   * "hidden": the owner may reveal it (GET /api/body/<id>); "not-visible": this identity may not read
   * other inboxes; "not-kept": it passed before this process started (known from its events only).
   */
  body: "hidden" | "not-visible" | "not-kept";
}

export interface JobRow {
  id: string;
  queue: string;
  needs: string[];
  state: JobState;
  submittedBy: string;
  submittedAt: string;
  worker?: string;
  attempts: number;
  finishedAt?: string;
  error?: string;
}

export interface DeadLetterView {
  key: string;
  at: string;
  owner: string;
  source: string;
  reason: string;
  from?: string;
  originalId?: string;
}

export interface AlertView {
  key: string;
  at: string;
  level: "warn" | "ok";
  text: string;
}

export interface ActivityView {
  key: string;
  at: string;
  subject: string;
  /** "unreadable": not an envelope, or a body that does not match its kind. */
  unreadable: boolean;
  text: string;
  size: number;
}

export interface ChartBucket {
  /** Start of the minute (ms since epoch). */
  t: number;
  deliveries: number;
  latencyAvgMs: number | null;
  latencyMaxMs: number | null;
}

export interface Counters {
  events: number;
  unreadable: number;
  messages: number;
  delivered: number;
  deadLettered: number;
}

export interface BrokerView {
  status: "connected" | "reconnecting" | "disconnected";
  server?: string;
  version?: string;
  since: string;
}

export interface Visibility {
  /** Messages on other identities' inboxes (a core subscription on every inbox subject). */
  flows: boolean;
  deadLetters: boolean;
  note?: string;
}

export interface Snapshot {
  self: string;
  nodes: NodeView[];
  flows: FlowView[];
  jobs: JobRow[];
  deadLetters: DeadLetterView[];
  alerts: AlertView[];
  activity: ActivityView[];
  chart: ChartBucket[];
  counters: Counters;
  broker: BrokerView;
  visibility: Visibility;
}

/** What changed since the last drain (one SSE message). */
export interface Batch {
  nodes?: NodeView[];
  removedNodes?: string[];
  flows?: FlowView[];
  jobs?: JobRow[];
  removedJobs?: string[];
  deadLetters?: DeadLetterView[];
  alerts?: AlertView[];
  activity?: ActivityView[];
  chart?: ChartBucket[];
  counters: Counters;
  broker?: BrokerView;
  visibility?: Visibility;
}

export interface ModelOptions {
  self: string;
  staleAfterMs: number;
  offlineAfterMs: number;
  now?: () => number;
  maxFlows?: number;
  maxActivity?: number;
  maxDeadLetters?: number;
  maxAlerts?: number;
  maxBodies?: number;
}

const MINUTE = 60_000;
const CHART_MINUTES = 60;
const ALERT_KINDS = new Set<string>(["peer.down", "peer.up", "gateway.unreachable", "gateway.reachable"]);


function capped<T>(list: T[], max: number): void {
  if (list.length > max) list.splice(0, list.length - max);
}

interface PresenceSlot {
  presence?: z.infer<typeof presenceSchema>;
  deleted?: boolean;
}

export class MeshModel {
  private readonly now: () => number;
  private readonly presence = new Map<string, PresenceSlot>();
  private readonly inboxes = new Map<string, InboxView>();
  private readonly seenIds = new Set<string>();
  private readonly gatewayDown = new Set<string>();
  private readonly nodes = new Map<string, NodeView>();
  private readonly flows = new Map<string, FlowView>();
  private readonly bodies = new Map<string, string>();
  private readonly jobs = new Map<string, JobRow>();
  private readonly deadLetters: DeadLetterView[] = [];
  private readonly alerts: AlertView[] = [];
  private readonly activity: ActivityView[] = [];
  private readonly chart = new Map<number, { n: number; latSum: number; latN: number; latMax: number }>();
  private readonly counters: Counters = { events: 0, unreadable: 0, messages: 0, delivered: 0, deadLettered: 0 };
  private brokerView: BrokerView;
  private visibility: Visibility = { flows: true, deadLetters: true };
  private seq = 0;

  private dirtyNodes = new Set<string>();
  private removedNodes = new Set<string>();
  private dirtyFlows = new Set<string>();
  private dirtyJobs = new Set<string>();
  private removedJobs = new Set<string>();
  private newDeadLetters: DeadLetterView[] = [];
  private newAlerts: AlertView[] = [];
  private newActivity: ActivityView[] = [];
  private chartDirty = false;
  private countersDirty = false;
  private brokerDirty = false;
  private visibilityDirty = false;

  constructor(private readonly o: ModelOptions) {
    this.now = o.now ?? Date.now;
    this.brokerView = { status: "disconnected", since: new Date(this.now()).toISOString() };
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** A presence entry (KV put) or its removal (delete, purge: a graceful stop). */
  presenceChanged(identity: string, value: string | undefined): void {
    if (value === undefined) {
      this.presence.set(identity, { deleted: true });
    } else {
      const parsed = presenceSchema.safeParse(safeJson(value));
      if (!parsed.success) {
        this.unreadable(`$KV presence ${identity}`, value.length, "presence entry does not match the schema");
        return;
      }
      this.presence.set(identity, { presence: parsed.data });
    }
    this.refreshNode(identity);
  }

  /** An inbox consumer's state, or why this identity may not read it. */
  inboxChanged(identity: string, view: InboxView): void {
    const before = this.inboxes.get(identity);
    if (before && JSON.stringify(before) === JSON.stringify(view)) return;
    this.inboxes.set(identity, view);
    this.refreshNode(identity);
  }

  /** Identities known to have an inbox (consumer names, stream subjects). */
  identitySeen(identity: string): void {
    if (!this.nodes.has(identity)) this.refreshNode(identity);
  }

  /** A message stored on an inbox lane (agent.<to>.inbox.<from>). */
  inboxMessage(subject: string, data: Uint8Array): void {
    const to = ownerOf(subject) ?? "?";
    let env: Envelope;
    try {
      env = parseEnvelope(data);
    } catch (err) {
      this.unreadable(subject, data.length, (err as Error).message);
      return;
    }
    this.counters.messages++;
    this.countersDirty = true;
    const flow = this.flows.get(env.id);
    const text = typeof env.body === "string" ? env.body : JSON.stringify(env.body ?? null);
    if (!this.bodies.has(env.id)) this.keepBody(env.id);
    this.bodies.set(env.id, text);
    this.putFlow({
      ...(flow ?? { state: "sent" as const }),
      id: env.id,
      from: env.from,
      to,
      kind: env.kind,
      size: data.length,
      at: flow?.at ?? env.time,
      body: "hidden",
    });
    this.identitySeen(to);
    if (env.from !== to) this.identitySeen(env.from);
  }

  /** Anything published on events.<id>.<kind> (storedAt: when the stream stored it, for a replay). */
  event(subject: string, data: Uint8Array, storedAt?: Date): void {
    let env: Envelope;
    try {
      env = parseEnvelope(data);
    } catch (err) {
      this.unreadable(subject, data.length, (err as Error).message, storedAt);
      return;
    }
    if (this.seenIds.has(env.id)) return; // replayed and live: once
    this.rememberId(env.id);
    const owner = ownerOf(subject);
    if (env.kind !== "event" || owner !== env.from) {
      this.unreadable(subject, data.length, env.kind !== "event" ? `kind ${env.kind} on an event subject` : `from ${env.from} on ${owner}'s subject`, storedAt);
      return;
    }
    const type = env.type ?? "";
    if (!(sidecarEventKinds as readonly string[]).includes(type)) {
      // Someone's own event kind (mesh pub events.clawd.note): shown, body not interpreted.
      this.count();
      this.addActivity(subject, data.length, env.time, `${env.from} ${type || "(no type)"}`);
      this.identitySeen(env.from);
      return;
    }
    const kind = type as EventKind;
    const body = eventBodies[kind].safeParse(env.body);
    if (!body.success) {
      this.unreadable(subject, data.length, `body of ${kind} does not match its schema`, storedAt);
      return;
    }
    this.count();
    this.identitySeen(env.from);
    this.addActivity(subject, data.length, env.time, this.describe(env.from, kind, body.data));
    this.applyEvent(env, kind, body.data);
  }

  /** A job record (mesh-jobs KV) or its removal. */
  jobChanged(id: string, value: string | undefined): void {
    if (value === undefined) {
      if (this.jobs.delete(id)) {
        this.removedJobs.add(id);
        this.dirtyJobs.delete(id);
      }
      return;
    }
    const parsed = jobRecordSchema.safeParse(safeJson(value));
    if (!parsed.success) {
      this.unreadable(`$KV jobs ${id}`, value.length, "job record does not match the schema");
      return;
    }
    const r = parsed.data;
    this.jobs.set(id, {
      id: r.id,
      queue: r.queue,
      needs: r.needs,
      state: r.state,
      submittedBy: r.submittedBy,
      submittedAt: r.submittedAt,
      attempts: r.attempts,
      ...(r.worker ? { worker: r.worker } : {}),
      ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
      ...(r.error ? { error: r.error } : {}),
    });
    this.removedJobs.delete(id);
    this.dirtyJobs.add(id);
    const max = 200;
    if (this.jobs.size > max) {
      const oldest = [...this.jobs.values()].sort((a, b) => a.submittedAt.localeCompare(b.submittedAt))[0];
      if (oldest) this.jobChanged(oldest.id, undefined);
    }
  }

  /** A dead letter stored on dlq.<id>.<source>. */
  deadLetter(subject: string, data: Uint8Array, storedAt?: Date): void {
    let env: Envelope;
    try {
      env = parseEnvelope(data);
    } catch (err) {
      this.unreadable(subject, data.length, (err as Error).message);
      return;
    }
    if (this.seenIds.has(env.id)) return;
    this.rememberId(env.id);
    const body = deadLetterBody.safeParse(env.body);
    if (!body.success) {
      this.unreadable(subject, data.length, "dead letter body does not match its schema");
      return;
    }
    const parts = subject.split(".");
    const dl: DeadLetterView = {
      key: env.id,
      at: (storedAt ?? new Date(env.time)).toISOString(),
      owner: parts[1] ?? "?",
      source: parts.slice(2).join(".") || "?",
      reason: body.data.reason,
      ...(body.data.from ? { from: body.data.from } : {}),
      ...(body.data.originalId ? { originalId: body.data.originalId } : {}),
    };
    this.deadLetters.push(dl);
    capped(this.deadLetters, this.o.maxDeadLetters ?? 50);
    this.newDeadLetters.push(dl);
  }

  brokerChanged(status: BrokerView["status"], info: { server?: string; version?: string } = {}): void {
    this.brokerView = { status, since: new Date(this.now()).toISOString(), ...info };
    this.brokerDirty = true;
  }

  visibilityChanged(v: Partial<Visibility>): void {
    this.visibility = { ...this.visibility, ...v };
    this.visibilityDirty = true;
  }

  /** Time passes: presence ages (online → stale → offline) and the chart window slides. */
  tick(): void {
    for (const id of this.nodes.keys()) this.refreshNode(id);
    const oldest = this.minute(this.now()) - (CHART_MINUTES - 1) * MINUTE;
    for (const t of this.chart.keys()) {
      if (t < oldest) {
        this.chart.delete(t);
        this.chartDirty = true;
      }
    }
  }

  // ---- outputs ------------------------------------------------------------------------------

  /** The body of a message this identity saw, for the owner who asked to reveal it. */
  body(id: string): string | undefined {
    return this.bodies.get(id);
  }

  knownIdentities(): string[] {
    return [...this.nodes.keys()];
  }

  snapshot(): Snapshot {
    return {
      self: this.o.self,
      nodes: [...this.nodes.values()].sort((a, b) => a.identity.localeCompare(b.identity)),
      flows: [...this.flows.values()],
      jobs: [...this.jobs.values()],
      deadLetters: [...this.deadLetters],
      alerts: [...this.alerts],
      activity: [...this.activity],
      chart: this.chartView(),
      counters: { ...this.counters },
      broker: this.brokerView,
      visibility: this.visibility,
    };
  }

  /** What changed since the last call; undefined when nothing did. */
  drain(): Batch | undefined {
    const changed =
      this.dirtyNodes.size + this.removedNodes.size + this.dirtyFlows.size + this.dirtyJobs.size + this.removedJobs.size > 0 ||
      this.newDeadLetters.length + this.newAlerts.length + this.newActivity.length > 0 ||
      this.chartDirty ||
      this.countersDirty ||
      this.brokerDirty ||
      this.visibilityDirty;
    if (!changed) return undefined;
    const pick = <T>(ids: Set<string>, from: Map<string, T>): T[] => [...ids].map((id) => from.get(id)).filter((x): x is T => x !== undefined);
    const b: Batch = { counters: { ...this.counters } };
    if (this.dirtyNodes.size) b.nodes = pick(this.dirtyNodes, this.nodes);
    if (this.removedNodes.size) b.removedNodes = [...this.removedNodes];
    if (this.dirtyFlows.size) b.flows = pick(this.dirtyFlows, this.flows);
    if (this.dirtyJobs.size) b.jobs = pick(this.dirtyJobs, this.jobs);
    if (this.removedJobs.size) b.removedJobs = [...this.removedJobs];
    if (this.newDeadLetters.length) b.deadLetters = this.newDeadLetters;
    if (this.newAlerts.length) b.alerts = this.newAlerts;
    if (this.newActivity.length) b.activity = this.newActivity.slice(-(this.o.maxActivity ?? 100));
    if (this.chartDirty) b.chart = this.chartView();
    if (this.brokerDirty) b.broker = this.brokerView;
    if (this.visibilityDirty) b.visibility = this.visibility;
    this.dirtyNodes = new Set();
    this.removedNodes = new Set();
    this.dirtyFlows = new Set();
    this.dirtyJobs = new Set();
    this.removedJobs = new Set();
    this.newDeadLetters = [];
    this.newAlerts = [];
    this.newActivity = [];
    this.chartDirty = this.countersDirty = this.brokerDirty = this.visibilityDirty = false;
    return b;
  }

  // ---- internals ----------------------------------------------------------------------------

  private readonly bodyOrder: string[] = [];
  private keepBody(id: string): void {
    this.bodyOrder.push(id);
    const max = this.o.maxBodies ?? 500;
    while (this.bodyOrder.length > max) {
      const old = this.bodyOrder.shift();
      if (old !== undefined) this.bodies.delete(old);
    }
  }

  private rememberId(id: string): void {
    this.seenIds.add(id);
    if (this.seenIds.size > 20_000) {
      const first = this.seenIds.values().next().value;
      if (first !== undefined) this.seenIds.delete(first);
    }
  }

  private count(): void {
    this.counters.events++;
    this.countersDirty = true;
  }

  /** A signed record that failed its check (source.ts verifies): shown as unreadable, counted. */
  recordRefused(subject: string, size: number, why: string): void {
    this.unreadable(subject, size, why);
  }

  private unreadable(subject: string, size: number, why: string, at?: Date): void {
    this.counters.events++;
    this.counters.unreadable++;
    this.countersDirty = true;
    const item: ActivityView = {
      key: `u${++this.seq}`,
      at: (at ?? new Date(this.now())).toISOString(),
      subject: subject.slice(0, 200),
      unreadable: true,
      text: `unreadable event (${why.slice(0, 160)})`,
      size,
    };
    this.pushActivity(item);
  }

  private addActivity(subject: string, size: number, at: string, text: string): void {
    this.pushActivity({ key: `e${++this.seq}`, at, subject, unreadable: false, text, size });
  }

  private pushActivity(item: ActivityView): void {
    const max = this.o.maxActivity ?? 100;
    this.activity.push(item);
    capped(this.activity, max);
    this.newActivity.push(item);
    if (this.newActivity.length > max * 2) this.newActivity.splice(0, this.newActivity.length - max);
  }

  private describe(from: string, kind: EventKind, body: unknown): string {
    const b = body as Record<string, unknown>;
    switch (kind) {
      case "message.delivered":
        return `${from} took message ${String(b.id).slice(0, 8)} from ${String(b.from)} (${String(b.latencyMs)} ms)`;
      case "message.retried":
        return `${from} retries message ${String(b.id).slice(0, 8)} from ${String(b.from)}: ${String(b.reason)}`;
      case "message.dead-lettered":
        return `${from} dead-lettered a message${b.from ? ` from ${String(b.from)}` : ""}: ${String(b.reason)}`;
      case "job.failed":
        return `${from}: job ${String(b.jobId).slice(0, 8)} failed: ${String(b.reason)}`;
      case "gateway.unreachable":
        return `${from}: gateway unreachable (${String(b.reason)})`;
      default:
        return `${from} ${kind}`;
    }
  }

  private applyEvent(env: Envelope, kind: EventKind, body: unknown): void {
    const at = env.time;
    if (kind === "message.delivered") {
      const b = body as z.infer<(typeof eventBodies)["message.delivered"]>;
      this.counters.delivered++;
      this.addToChart(Date.parse(at), b.latencyMs);
      this.updateFlow(b.id, env.from, b.from, at, { state: "delivered", attempts: b.attempts, latencyMs: b.latencyMs });
    } else if (kind === "message.retried") {
      const b = body as z.infer<(typeof eventBodies)["message.retried"]>;
      this.updateFlow(b.id, env.from, b.from, at, { state: "retried", attempts: b.attempt, reason: b.reason });
    } else if (kind === "message.dead-lettered") {
      const b = body as z.infer<(typeof eventBodies)["message.dead-lettered"]>;
      this.counters.deadLettered++;
      if (b.id) this.updateFlow(b.id, env.from, b.from, at, { state: "dead-lettered", reason: b.reason });
    } else if (ALERT_KINDS.has(kind)) {
      const b = body as Record<string, string>;
      // "reachable" is news only after "unreachable" (every sidecar reports it once at start).
      if (kind === "gateway.unreachable") this.gatewayDown.add(env.from);
      if (kind === "gateway.reachable" && !this.gatewayDown.delete(env.from)) return;
      const text =
        kind === "peer.down"
          ? `${b.peer} is offline (last seen ${b.lastSeen}; reported by ${env.from})`
          : kind === "peer.up"
            ? `${b.peer} is back online (reported by ${env.from})`
            : kind === "gateway.unreachable"
              ? `${env.from}'s gateway is unreachable: ${b.reason}`
              : `${env.from}'s gateway is reachable again`;
      const alert: AlertView = { key: env.id, at, level: kind === "peer.down" || kind === "gateway.unreachable" ? "warn" : "ok", text };
      this.alerts.push(alert);
      capped(this.alerts, this.o.maxAlerts ?? 50);
      this.newAlerts.push(alert);
    }
  }

  private updateFlow(id: string, to: string, from: string | undefined, at: string, change: Partial<FlowView>): void {
    const cur = this.flows.get(id);
    // A later "retried" never overrides a final state that arrived first (events of one message may interleave).
    if (cur && (cur.state === "delivered" || cur.state === "dead-lettered") && change.state === "retried") return;
    const next = {
      ...(cur ?? { id, to, at, kind: "message", body: this.bodies.has(id) ? "hidden" : this.visibility.flows ? "not-kept" : "not-visible" }),
      ...(from && !cur?.from ? { from } : {}),
      ...change,
    } as FlowView;
    // A delivered message keeps no retry reason (its attempts say it was retried).
    if (next.state === "delivered") delete next.reason;
    this.putFlow(next);
  }

  private putFlow(f: FlowView): void {
    // Re-insert so the map's order is the order of last change (newest last).
    this.flows.delete(f.id);
    this.flows.set(f.id, f);
    this.dirtyFlows.add(f.id);
    const max = this.o.maxFlows ?? 100;
    while (this.flows.size > max) {
      const oldest = this.flows.keys().next().value;
      if (oldest === undefined) break;
      this.flows.delete(oldest);
      this.dirtyFlows.delete(oldest);
    }
  }

  private minute(ms: number): number {
    return Math.floor(ms / MINUTE) * MINUTE;
  }

  private addToChart(atMs: number, latencyMs: number): void {
    const now = this.now();
    const t = this.minute(Number.isFinite(atMs) && atMs <= now ? atMs : now);
    if (t < this.minute(now) - (CHART_MINUTES - 1) * MINUTE) return;
    const b = this.chart.get(t) ?? { n: 0, latSum: 0, latN: 0, latMax: 0 };
    b.n++;
    if (Number.isFinite(latencyMs) && latencyMs >= 0) {
      b.latSum += latencyMs;
      b.latN++;
      b.latMax = Math.max(b.latMax, latencyMs);
    }
    this.chart.set(t, b);
    this.chartDirty = true;
  }

  private chartView(): ChartBucket[] {
    const end = this.minute(this.now());
    const out: ChartBucket[] = [];
    for (let i = CHART_MINUTES - 1; i >= 0; i--) {
      const t = end - i * MINUTE;
      const b = this.chart.get(t);
      out.push({
        t,
        deliveries: b?.n ?? 0,
        latencyAvgMs: b && b.latN > 0 ? Math.round(b.latSum / b.latN) : null,
        latencyMaxMs: b && b.latN > 0 ? b.latMax : null,
      });
    }
    return out;
  }

  private refreshNode(identity: string): void {
    const slot = this.presence.get(identity);
    const p = slot?.presence;
    let state: NodeState = "offline";
    let note = "no heartbeat seen";
    if (slot?.deleted) note = "stopped (presence cleared)";
    if (p) {
      const age = Math.max(0, this.now() - Date.parse(p.lastSeen));
      const secs = Math.round(age / 1000);
      if (p.status === "stopping") {
        state = "offline";
        note = "stopping";
      } else {
        state = presenceState(age, this.o.staleAfterMs, this.o.offlineAfterMs);
        note = state === "online" ? `last seen ${secs}s ago` : `no heartbeat for ${secs}s`;
      }
    }
    const inbox = this.inboxes.get(identity);
    const next: NodeView = {
      identity,
      self: identity === this.o.self,
      state,
      note,
      capabilities: p?.capabilities ?? [],
      ...(p ? { host: p.host, version: p.version, gateway: p.gateway, lastSeen: p.lastSeen } : {}),
      ...(p?.bridge ? { bridge: p.bridge } : {}),
      ...(inbox ? { inbox } : {}),
    };
    const cur = this.nodes.get(identity);
    // Notes that only count seconds would send every node every second: send on a real change only.
    const same = cur && JSON.stringify({ ...cur, note: "" }) === JSON.stringify({ ...next, note: "" }) && cur.note.split(" ")[0] === next.note.split(" ")[0];
    this.nodes.set(identity, next);
    if (!same) this.dirtyNodes.add(identity);
  }
}
