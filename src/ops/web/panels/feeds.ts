/**
 * The append-only panels: activity (every event, and what could not be read), alerts (peers and
 * gateways going down and coming back) and dead letters; and the counters above them.
 */
import type { z } from "zod";
import { deadLetterBody, type Envelope, type EventKind, type eventBodies } from "../../../../subjects/mod.js";
import { FeedRows } from "../panel.js";
import type { ActivityView, AlertView, Counters, DeadLetterView } from "../views.js";

export const ALERT_KINDS = new Set<string>(["peer.down", "peer.up", "gateway.unreachable", "gateway.reachable"]);

export class CountersPanel {
  readonly values: Counters = { events: 0, unreadable: 0, messages: 0, delivered: 0, deadLettered: 0 };
  dirty = false;

  bump(...keys: Array<keyof Counters>): void {
    for (const k of keys) this.values[k]++;
    this.dirty = true;
  }
}

export class ActivityPanel {
  readonly rows: FeedRows<ActivityView>;
  private seq = 0;

  constructor(private readonly opts: { cap: number; now: () => number; counters: CountersPanel }) {
    this.rows = new FeedRows<ActivityView>(opts.cap);
  }

  /** An event shown with `text`. */
  add(subject: string, size: number, at: string, text: string): void {
    this.opts.counters.bump("events");
    this.rows.push({ key: `e${++this.seq}`, at, subject, unreadable: false, text, size });
  }

  /** What arrived but cannot be shown: counted and listed as an unreadable event, never rendered. */
  readonly unreadable = (subject: string, size: number, why: string, at?: Date): void => {
    this.opts.counters.bump("events", "unreadable");
    this.rows.push({
      key: `u${++this.seq}`,
      at: (at ?? new Date(this.opts.now())).toISOString(),
      subject: subject.slice(0, 200),
      unreadable: true,
      text: `unreadable event (${why.slice(0, 160)})`,
      size,
    });
  };
}

export class AlertsPanel {
  readonly rows: FeedRows<AlertView>;
  private readonly gatewayDown = new Set<string>();

  constructor(cap: number) {
    this.rows = new FeedRows<AlertView>(cap);
  }

  /** An alert event (one of {@link ALERT_KINDS}) from `env.from`. */
  add(env: Envelope, kind: EventKind, body: Record<string, string>): void {
    // "reachable" is news only after "unreachable" (every sidecar reports it once at start).
    if (kind === "gateway.unreachable") this.gatewayDown.add(env.from);
    if (kind === "gateway.reachable" && !this.gatewayDown.delete(env.from)) return;
    const text =
      kind === "peer.down"
        ? `${body.peer} is offline (last seen ${body.lastSeen}; reported by ${env.from})`
        : kind === "peer.up"
          ? `${body.peer} is back online (reported by ${env.from})`
          : kind === "gateway.unreachable"
            ? `${env.from}'s gateway is unreachable: ${body.reason}`
            : `${env.from}'s gateway is reachable again`;
    this.rows.push({ key: env.id, at: env.time, level: kind === "peer.down" || kind === "gateway.unreachable" ? "warn" : "ok", text });
  }
}

export class DeadLettersPanel {
  readonly rows: FeedRows<DeadLetterView>;

  constructor(cap: number) {
    this.rows = new FeedRows<DeadLetterView>(cap);
  }

  /** A dead letter stored on dlq.<owner>.<source>. */
  add(subject: string, env: Envelope, body: z.infer<typeof deadLetterBody>, storedAt?: Date): void {
    const parts = subject.split(".");
    this.rows.push({
      key: env.id,
      at: (storedAt ?? new Date(env.time)).toISOString(),
      owner: parts[1] ?? "?",
      source: parts.slice(2).join(".") || "?",
      reason: body.reason,
      ...(body.from ? { from: body.from } : {}),
      ...(body.originalId ? { originalId: body.originalId } : {}),
    });
  }
}

/** One line of activity for a sidecar event. */
export function describeEvent(from: string, kind: EventKind, body: unknown): string {
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

export type EventBody<K extends EventKind> = z.infer<(typeof eventBodies)[K]>;
