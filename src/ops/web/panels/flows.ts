/**
 * The flows panel: each message this identity saw stored on an inbox, or learnt of from the
 * sidecars' events (delivered, retried, dead-lettered), newest change last. Bodies stay here: the
 * page gets one only when the owner asks (GET /api/body/<id>).
 */
import { bodyText, type Envelope } from "../../../../subjects/mod.js";
import { KeyedRows } from "../panel.js";
import type { FlowView } from "../views.js";

export class FlowsPanel {
  readonly rows: KeyedRows<FlowView>;
  private readonly bodies = new Map<string, string>();
  private readonly bodyOrder: string[] = [];

  constructor(private readonly opts: { cap: number; bodies: number; mayReadInboxes: () => boolean }) {
    this.rows = new KeyedRows<FlowView>({ cap: opts.cap });
  }

  /** A message stored on `to`'s inbox (`size` bytes). */
  stored(env: Envelope, to: string, size: number): void {
    const flow = this.rows.get(env.id);
    const text = env.body === undefined && !env.sealed ? "null" : bodyText(env);
    if (!this.bodies.has(env.id)) this.keepBody(env.id);
    this.bodies.set(env.id, text);
    this.rows.put(env.id, {
      ...(flow ?? { state: "sent" as const }),
      id: env.id,
      from: env.from,
      to,
      kind: env.kind,
      size,
      at: flow?.at ?? env.time,
      body: "hidden",
    });
  }

  /** What a sidecar's event says of message `id` to `to` (from `from`). */
  update(id: string, to: string, from: string | undefined, at: string, change: Partial<FlowView>): void {
    const cur = this.rows.get(id);
    // A later "retried" never overrides a final state that arrived first (events of one message may interleave).
    if (cur && (cur.state === "delivered" || cur.state === "dead-lettered") && change.state === "retried") return;
    const next = {
      ...(cur ?? { id, to, at, kind: "message", body: this.bodies.has(id) ? "hidden" : this.opts.mayReadInboxes() ? "not-kept" : "not-visible" }),
      ...(from && !cur?.from ? { from } : {}),
      ...change,
    } as FlowView;
    // A delivered message keeps no retry reason (its attempts say it was retried).
    if (next.state === "delivered") delete next.reason;
    this.rows.put(id, next);
  }

  body(id: string): string | undefined {
    return this.bodies.get(id);
  }

  private keepBody(id: string): void {
    this.bodyOrder.push(id);
    while (this.bodyOrder.length > this.opts.bodies) {
      const old = this.bodyOrder.shift();
      if (old !== undefined) this.bodies.delete(old);
    }
  }
}
