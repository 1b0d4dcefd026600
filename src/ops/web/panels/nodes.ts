/** The nodes panel: one row per identity, from its presence entry (aged by the clock) and its inbox. */
import type { z } from "zod";
import { presenceState } from "../../../features/presence/presence.js";
import { presenceSchema } from "../../../../subjects/mod.js";
import { KeyedRows, readValue, type Unreadable } from "../panel.js";
import type { InboxView, NodeState, NodeView } from "../views.js";

interface PresenceSlot {
  presence?: z.infer<typeof presenceSchema>;
  deleted?: boolean;
}

export class NodesPanel {
  readonly rows = new KeyedRows<NodeView>();
  private readonly presence = new Map<string, PresenceSlot>();
  private readonly inboxes = new Map<string, InboxView>();

  constructor(private readonly opts: { self: string; staleAfterMs: number; offlineAfterMs: number; now: () => number; unreadable: Unreadable }) {}

  /** A presence entry (KV put) or its removal (delete, purge: a graceful stop). */
  presenceChanged(identity: string, value: string | undefined): void {
    if (value === undefined) {
      this.presence.set(identity, { deleted: true });
    } else {
      const presence = readValue(presenceSchema, value, `$KV presence ${identity}`, "presence entry does not match the schema", this.opts.unreadable);
      if (presence === undefined) return;
      this.presence.set(identity, { presence });
    }
    this.refresh(identity);
  }

  /** An inbox consumer's state, or why this identity may not read it. */
  inboxChanged(identity: string, view: InboxView): void {
    const before = this.inboxes.get(identity);
    if (before && JSON.stringify(before) === JSON.stringify(view)) return;
    this.inboxes.set(identity, view);
    this.refresh(identity);
  }

  /** An identity known to exist (an inbox, a message, an event): a row, offline until it beats. */
  seen(identity: string): void {
    if (!this.rows.has(identity)) this.refresh(identity);
  }

  /** Time passes: online → stale → offline. */
  tick(): void {
    for (const id of this.rows.keys()) this.refresh(id);
  }

  snapshot(): NodeView[] {
    return this.rows.values().sort((a, b) => a.identity.localeCompare(b.identity));
  }

  private refresh(identity: string): void {
    const slot = this.presence.get(identity);
    const p = slot?.presence;
    let state: NodeState = "offline";
    let note = "no heartbeat seen";
    if (slot?.deleted) note = "stopped (presence cleared)";
    if (p) {
      const age = Math.max(0, this.opts.now() - Date.parse(p.lastSeen));
      const secs = Math.round(age / 1000);
      if (p.status === "stopping") {
        state = "offline";
        note = "stopping";
      } else {
        state = presenceState(age, this.opts.staleAfterMs, this.opts.offlineAfterMs);
        note = state === "online" ? `last seen ${secs}s ago` : `no heartbeat for ${secs}s`;
      }
    }
    const inbox = this.inboxes.get(identity);
    const next: NodeView = {
      identity,
      self: identity === this.opts.self,
      state,
      note,
      capabilities: p?.capabilities ?? [],
      ...(p ? { host: p.host, version: p.version, gateway: p.gateway, lastSeen: p.lastSeen } : {}),
      ...(p?.bridge ? { bridge: p.bridge } : {}),
      ...(inbox ? { inbox } : {}),
    };
    const cur = this.rows.get(identity);
    // Notes that only count seconds would send every node every second: send on a real change only.
    const same = cur && JSON.stringify({ ...cur, note: "" }) === JSON.stringify({ ...next, note: "" }) && cur.note.split(" ")[0] === next.note.split(" ")[0];
    this.rows.put(identity, next, !same);
  }
}
