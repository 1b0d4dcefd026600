/**
 * What the web view's page receives: the snapshot on connect and one batch per change (SSE). The
 * wire shapes of every panel, in one place; the page (web/app.js) reads these.
 */
import type { PeerState } from "../../features/presence/presence.js";
import type { JobState } from "../../../subjects/mod.js";

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

/** Leaf mode: this Mac's link to the hub (src/ops/leaf-link.ts), the line `mesh top` shows. */
export interface LinkView {
  mac: string;
  connected: boolean;
  line: string;
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
  /** Leaf mode only. */
  link?: LinkView;
  visibility: Visibility;
}

/** What changed since the last drain (one SSE message). */
export interface Batch {
  nodes?: NodeView[];
  flows?: FlowView[];
  jobs?: JobRow[];
  removedJobs?: string[];
  deadLetters?: DeadLetterView[];
  alerts?: AlertView[];
  activity?: ActivityView[];
  chart?: ChartBucket[];
  counters: Counters;
  broker?: BrokerView;
  link?: LinkView;
  visibility?: Visibility;
}
