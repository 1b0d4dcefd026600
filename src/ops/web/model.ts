/**
 * The web view's state: what the page shows, built from what the bus reader (source.ts) hands
 * it. Pure (no NATS, no HTTP, no clock of its own), so every rule here is unit-tested. Everything
 * that arrives is validated with zod; what does not validate becomes an "unreadable event",
 * counted, never rendered. Message bodies stay here: the page gets one only when the owner asks.
 *
 * This class routes each input to its panels (panels/*.ts) and gathers their changes into one
 * batch; each panel keeps its rows with the shared cap/dirty helpers of panel.ts.
 */
import { deadLetterBody, eventBodies, ownerOf, sidecarEventKinds, type EventKind } from "../../../subjects/mod.js";
import { DEFAULT_CAPS, RecentIds, readEnvelope, type WebCaps } from "./panel.js";
import { NodesPanel } from "./panels/nodes.js";
import { FlowsPanel } from "./panels/flows.js";
import { JobsPanel } from "./panels/jobs.js";
import { ChartPanel } from "./panels/chart.js";
import { ActivityPanel, ALERT_KINDS, AlertsPanel, CountersPanel, DeadLettersPanel, describeEvent, type EventBody } from "./panels/feeds.js";
import type { Batch, BrokerView, InboxView, LinkView, Snapshot, Visibility } from "./views.js";

export interface ModelOptions {
  self: string;
  staleAfterMs: number;
  offlineAfterMs: number;
  now?: () => number;
  /** How much each panel keeps ({@link DEFAULT_CAPS} for what is not given). */
  caps?: Partial<WebCaps>;
}

export class MeshModel {
  private readonly now: () => number;
  private readonly counters = new CountersPanel();
  private readonly activity: ActivityPanel;
  private readonly nodes: NodesPanel;
  private readonly flows: FlowsPanel;
  private readonly jobs: JobsPanel;
  private readonly chart: ChartPanel;
  private readonly alerts: AlertsPanel;
  private readonly deadLetters: DeadLettersPanel;
  /** Events and dead letters arrive replayed and live: each counts once. */
  private readonly seen: RecentIds;
  private brokerView: BrokerView;
  private visibility: Visibility = { flows: true, deadLetters: true };
  private brokerDirty = false;
  private linkView?: LinkView;
  private linkDirty = false;
  private visibilityDirty = false;

  constructor(private readonly opts: ModelOptions) {
    const now = (this.now = opts.now ?? Date.now);
    const caps: WebCaps = { ...DEFAULT_CAPS, ...opts.caps };
    this.activity = new ActivityPanel({ cap: caps.activity, now, counters: this.counters });
    const unreadable = this.activity.unreadable;
    this.nodes = new NodesPanel({ self: opts.self, staleAfterMs: opts.staleAfterMs, offlineAfterMs: opts.offlineAfterMs, now, unreadable });
    this.flows = new FlowsPanel({ cap: caps.flows, bodies: caps.bodies, mayReadInboxes: () => this.visibility.flows });
    this.jobs = new JobsPanel({ cap: caps.jobs, unreadable });
    this.chart = new ChartPanel(now);
    this.alerts = new AlertsPanel(caps.alerts);
    this.deadLetters = new DeadLettersPanel(caps.deadLetters);
    this.seen = new RecentIds(caps.seenIds);
    this.brokerView = { status: "disconnected", since: new Date(now()).toISOString() };
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** A presence entry (KV put) or its removal (delete, purge: a graceful stop). */
  presenceChanged(identity: string, value: string | undefined): void {
    this.nodes.presenceChanged(identity, value);
  }

  /** An inbox consumer's state, or why this identity may not read it. */
  inboxChanged(identity: string, view: InboxView): void {
    this.nodes.inboxChanged(identity, view);
  }

  /** Identities known to have an inbox (consumer names, stream subjects). */
  identitySeen(identity: string): void {
    this.nodes.seen(identity);
  }

  /** A message stored on an inbox lane (agent.<to>.inbox.<from>). */
  inboxMessage(subject: string, data: Uint8Array): void {
    const to = ownerOf(subject) ?? "?";
    const env = readEnvelope(subject, data, this.activity.unreadable);
    if (!env) return;
    this.counters.bump("messages");
    this.flows.stored(env, to, data.length);
    this.nodes.seen(to);
    if (env.from !== to) this.nodes.seen(env.from);
  }

  /** Anything published on events.<id>.<kind> (storedAt: when the stream stored it, for a replay). */
  event(subject: string, data: Uint8Array, storedAt?: Date): void {
    const unreadable = this.activity.unreadable;
    const env = readEnvelope(subject, data, unreadable, storedAt);
    if (!env || !this.seen.firstTime(env.id)) return;
    const owner = ownerOf(subject);
    if (env.kind !== "event" || owner !== env.from) {
      unreadable(subject, data.length, env.kind !== "event" ? `kind ${env.kind} on an event subject` : `from ${env.from} on ${owner}'s subject`, storedAt);
      return;
    }
    const type = env.type ?? "";
    if (!(sidecarEventKinds as readonly string[]).includes(type)) {
      // Someone's own event kind (mesh pub events.clawd.note): shown, body not interpreted.
      this.activity.add(subject, data.length, env.time, `${env.from} ${type || "(no type)"}`);
      this.nodes.seen(env.from);
      return;
    }
    const kind = type as EventKind;
    const body = eventBodies[kind].safeParse(env.body);
    if (!body.success) {
      unreadable(subject, data.length, `body of ${kind} does not match its schema`, storedAt);
      return;
    }
    this.activity.add(subject, data.length, env.time, describeEvent(env.from, kind, body.data));
    this.nodes.seen(env.from);
    const at = env.time;
    if (kind === "message.delivered") {
      const b = body.data as EventBody<"message.delivered">;
      this.counters.bump("delivered");
      this.chart.delivered(Date.parse(at), b.latencyMs);
      this.flows.update(b.id, env.from, b.from, at, { state: "delivered", attempts: b.attempts, latencyMs: b.latencyMs });
    } else if (kind === "message.retried") {
      const b = body.data as EventBody<"message.retried">;
      this.flows.update(b.id, env.from, b.from, at, { state: "retried", attempts: b.attempt, reason: b.reason });
    } else if (kind === "message.dead-lettered") {
      const b = body.data as EventBody<"message.dead-lettered">;
      this.counters.bump("deadLettered");
      if (b.id) this.flows.update(b.id, env.from, b.from, at, { state: "dead-lettered", reason: b.reason });
    } else if (ALERT_KINDS.has(kind)) {
      this.alerts.add(env, kind, body.data as Record<string, string>);
    }
  }

  /** A job record (mesh-jobs KV) or its removal. */
  jobChanged(id: string, value: string | undefined): void {
    this.jobs.changed(id, value);
  }

  /** A dead letter stored on dlq.<id>.<source>. */
  deadLetter(subject: string, data: Uint8Array, storedAt?: Date): void {
    const env = readEnvelope(subject, data, this.activity.unreadable);
    if (!env || !this.seen.firstTime(env.id)) return;
    const body = deadLetterBody.safeParse(env.body);
    if (!body.success) {
      this.activity.unreadable(subject, data.length, "dead letter body does not match its schema");
      return;
    }
    this.deadLetters.add(subject, env, body.data, storedAt);
  }

  /** A signed record that failed its check (source.ts verifies): shown as unreadable, counted. */
  recordRefused(subject: string, size: number, why: string): void {
    this.activity.unreadable(subject, size, why);
  }

  brokerChanged(status: BrokerView["status"], info: { server?: string; version?: string } = {}): void {
    this.brokerView = { status, since: new Date(this.now()).toISOString(), ...info };
    this.brokerDirty = true;
  }

  /** Leaf mode: the link's state, read again every few seconds (dirty only when its line changed). */
  linkChanged(v: LinkView): void {
    if (this.linkView?.line === v.line && this.linkView.connected === v.connected) return;
    this.linkView = v;
    this.linkDirty = true;
  }

  visibilityChanged(v: Partial<Visibility>): void {
    this.visibility = { ...this.visibility, ...v };
    this.visibilityDirty = true;
  }

  /** Time passes: presence ages (online → stale → offline) and the chart window slides. */
  tick(): void {
    this.nodes.tick();
    this.chart.tick();
  }

  // ---- outputs ------------------------------------------------------------------------------

  /** The body of a message this identity saw, for the owner who asked to reveal it. */
  body(id: string): string | undefined {
    return this.flows.body(id);
  }

  knownIdentities(): string[] {
    return this.nodes.rows.keys();
  }

  snapshot(): Snapshot {
    return {
      self: this.opts.self,
      nodes: this.nodes.snapshot(),
      flows: this.flows.rows.values(),
      jobs: this.jobs.rows.values(),
      deadLetters: this.deadLetters.rows.values(),
      alerts: this.alerts.rows.values(),
      activity: this.activity.rows.values(),
      chart: this.chart.view(),
      counters: { ...this.counters.values },
      broker: this.brokerView,
      ...(this.linkView ? { link: this.linkView } : {}),
      visibility: this.visibility,
    };
  }

  /** What changed since the last call; undefined when nothing did. */
  drain(): Batch | undefined {
    const changed =
      this.nodes.rows.dirty ||
      this.flows.rows.dirty ||
      this.jobs.rows.dirty ||
      this.deadLetters.rows.dirty ||
      this.alerts.rows.dirty ||
      this.activity.rows.dirty ||
      this.chart.dirty ||
      this.counters.dirty ||
      this.brokerDirty ||
      this.linkDirty ||
      this.visibilityDirty;
    if (!changed) return undefined;
    const b: Batch = { counters: { ...this.counters.values } };
    const nodes = this.nodes.rows.drain().rows;
    if (nodes) b.nodes = nodes;
    const flows = this.flows.rows.drain().rows;
    if (flows) b.flows = flows;
    const jobs = this.jobs.rows.drain();
    if (jobs.rows) b.jobs = jobs.rows;
    if (jobs.removed) b.removedJobs = jobs.removed;
    const deadLetters = this.deadLetters.rows.drain();
    if (deadLetters) b.deadLetters = deadLetters;
    const alerts = this.alerts.rows.drain();
    if (alerts) b.alerts = alerts;
    const activity = this.activity.rows.drain();
    if (activity) b.activity = activity;
    if (this.chart.dirty) b.chart = this.chart.view();
    if (this.brokerDirty) b.broker = this.brokerView;
    if (this.linkDirty && this.linkView) b.link = this.linkView;
    if (this.visibilityDirty) b.visibility = this.visibility;
    this.chart.dirty = this.counters.dirty = this.brokerDirty = this.linkDirty = this.visibilityDirty = false;
    return b;
  }
}
