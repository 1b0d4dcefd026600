import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { z } from "zod";

export interface RuleStats {
  fired: number;
  /** Genuine events this rule is not for (its `when`, its `from` list, its own turns' events). */
  skipped: number;
  /** Events refused before matching: not verified (forged, unsigned, stale), or not the event their subject says. */
  refused: number;
  retried: number;
  deadLettered: number;
  /** Why the last refused event was refused (the verifier's or the schema check's reason). */
  lastRefusal?: string;
}

/**
 * The running sidecar's hook counts, kept in its state directory (`hooks-stats.json`, 0600) so that
 * `mesh hooks list` on the same machine shows what each rule fired, skipped and refused, and why.
 */
export const HOOK_STATS_FILE = "hooks-stats.json";

const fileSchema = z.object({
  updatedAt: z.string(),
  rules: z.record(
    z.string(),
    z.object({
      fired: z.number(),
      skipped: z.number(),
      refused: z.number(),
      retried: z.number(),
      deadLettered: z.number(),
      lastRefusal: z.string().optional(),
    }),
  ),
});
export type HookStatsFile = z.infer<typeof fileSchema>;

export function writeHookStats(path: string, stats: Map<string, RuleStats>): void {
  const data: HookStatsFile = { updatedAt: new Date().toISOString(), rules: Object.fromEntries(stats) };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data, null, 2), { mode: 0o600 });
  renameSync(tmp, path);
}

/** The file as the sidecar last wrote it; undefined when there is none (the sidecar has not run the rules). */
export function readHookStats(path: string): HookStatsFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = fileSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // half-written or damaged: as if absent
  }
}
