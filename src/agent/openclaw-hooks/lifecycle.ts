import { z } from "zod";
import type { EventBody, EventKind } from "../../../subjects/mod.js";

export type Emit = <K extends EventKind>(kind: K, body: EventBody<K>) => void;

const lifecycleSchema = z
  .object({
    runId: z.string(),
    sessionKey: z.string().optional(),
    agentId: z.string().optional(),
    stream: z.literal("lifecycle"),
    data: z.object({ phase: z.string(), error: z.unknown().optional(), aborted: z.boolean().optional(), stopReason: z.string().optional() }).passthrough(),
  })
  .passthrough();

/**
 * Mirrors the gateway's life as mesh events: the agent lifecycle (`agent` events, stream
 * `lifecycle`: phase start / end / error → gateway.run.started/completed/failed), `health` (on a
 * change of ok only) and `shutdown`. Everything else is not its business.
 */
export class LifecycleMirror {
  private lastHealth?: string;

  constructor(private readonly emit: Emit) {}

  /** One gateway event; true when it was one of the mirrored kinds. */
  onEvent(event: string, payload: unknown): boolean {
    switch (event) {
      case "agent":
        this.onAgent(payload);
        return true;
      case "health": {
        const p = (payload ?? {}) as Record<string, unknown>;
        const key = JSON.stringify({ ok: p.ok });
        if (key !== this.lastHealth) {
          this.lastHealth = key;
          this.emit("gateway.health", { ok: p.ok ?? null, ts: p.ts ?? Date.now() });
        }
        return true;
      }
      case "shutdown": {
        const p = (payload ?? {}) as { reason?: unknown; restartExpectedMs?: unknown };
        this.emit("gateway.shutdown", {
          ...(typeof p.reason === "string" ? { reason: p.reason } : {}),
          ...(typeof p.restartExpectedMs === "number" ? { restartExpectedMs: p.restartExpectedMs } : {}),
        });
        return true;
      }
      default:
        return false;
    }
  }

  private onAgent(payload: unknown): void {
    const p = lifecycleSchema.safeParse(payload);
    if (!p.success) return;
    const { runId, sessionKey, agentId, data } = p.data;
    const base = { runId, ...(sessionKey ? { sessionKey } : {}), ...(agentId ? { agentId } : {}) };
    if (data.phase === "start") this.emit("gateway.run.started", base);
    else if (data.phase === "end") {
      if (data.error || data.aborted) {
        this.emit("gateway.run.failed", { ...base, error: data.error ? String(JSON.stringify(data.error)).slice(0, 300) : "aborted" });
      } else this.emit("gateway.run.completed", base);
    } else if (data.phase === "error") {
      this.emit("gateway.run.failed", { ...base, error: String(JSON.stringify(data.error ?? "error")).slice(0, 300) });
    }
  }
}
