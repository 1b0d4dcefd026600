/** The chart panel: deliveries and their latency per minute, over the last hour. */
import type { ChartBucket } from "../views.js";

const MINUTE = 60_000;
const CHART_MINUTES = 60;

const minute = (ms: number): number => Math.floor(ms / MINUTE) * MINUTE;

export class ChartPanel {
  private readonly buckets = new Map<number, { n: number; latSum: number; latN: number; latMax: number }>();
  dirty = false;

  constructor(private readonly now: () => number) {}

  /** A delivery at `atMs` (a future or unreadable time counts now) that took `latencyMs`. */
  delivered(atMs: number, latencyMs: number): void {
    const now = this.now();
    const t = minute(Number.isFinite(atMs) && atMs <= now ? atMs : now);
    if (t < this.oldest()) return;
    const b = this.buckets.get(t) ?? { n: 0, latSum: 0, latN: 0, latMax: 0 };
    b.n++;
    if (Number.isFinite(latencyMs) && latencyMs >= 0) {
      b.latSum += latencyMs;
      b.latN++;
      b.latMax = Math.max(b.latMax, latencyMs);
    }
    this.buckets.set(t, b);
    this.dirty = true;
  }

  /** The window slides: minutes older than an hour go. */
  tick(): void {
    const oldest = this.oldest();
    for (const t of this.buckets.keys()) {
      if (t < oldest) {
        this.buckets.delete(t);
        this.dirty = true;
      }
    }
  }

  view(): ChartBucket[] {
    const end = minute(this.now());
    const out: ChartBucket[] = [];
    for (let i = CHART_MINUTES - 1; i >= 0; i--) {
      const t = end - i * MINUTE;
      const b = this.buckets.get(t);
      out.push({
        t,
        deliveries: b?.n ?? 0,
        latencyAvgMs: b && b.latN > 0 ? Math.round(b.latSum / b.latN) : null,
        latencyMaxMs: b && b.latN > 0 ? b.latMax : null,
      });
    }
    return out;
  }

  private oldest(): number {
    return minute(this.now()) - (CHART_MINUTES - 1) * MINUTE;
  }
}
