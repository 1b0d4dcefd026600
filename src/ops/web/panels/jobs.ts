/** The jobs panel: one row per job record (the records this identity may read), the oldest submitted going first past the cap. */
import { jobRecordSchema } from "../../../../subjects/mod.js";
import { KeyedRows, readValue, type Unreadable } from "../panel.js";
import type { JobRow } from "../views.js";

export class JobsPanel {
  readonly rows: KeyedRows<JobRow>;

  constructor(private readonly opts: { cap: number; unreadable: Unreadable }) {
    // A job past the cap is removed on the page too (it keeps every job it was sent).
    this.rows = new KeyedRows<JobRow>({ cap: opts.cap, evictFirst: (a, b) => a.submittedAt.localeCompare(b.submittedAt), announceEvictions: true });
  }

  /** A job record (its KV value) or its removal. */
  changed(id: string, value: string | undefined): void {
    if (value === undefined) {
      this.rows.remove(id);
      return;
    }
    const r = readValue(jobRecordSchema, value, `$KV jobs ${id}`, "job record does not match the schema", this.opts.unreadable);
    if (r === undefined) return;
    this.rows.put(id, {
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
  }
}
