import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { z } from "zod";

/** Kept in the sidecar's state dir: when each repo was last fetched (for `mesh doctor`). */
export const REPOS_STATE_FILE = "repos-state.json";

const entrySchema = z.object({
  lastFetchAt: z.string().optional(),
  lastSha: z.string().optional(),
  lastError: z.string().optional(),
  lastErrorAt: z.string().optional(),
});
const fileSchema = z.record(z.string(), entrySchema);
export type RepoState = z.infer<typeof entrySchema>;

export function reposStatePath(stateDir: string): string {
  return join(stateDir, REPOS_STATE_FILE);
}

export function readRepoStates(file: string): Record<string, RepoState> {
  try {
    const parsed = fileSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

/** Merges one repo's entry into the file (written whole, then renamed: a reader never sees half). */
export function recordRepoState(file: string, repo: string, update: RepoState): void {
  const all = readRepoStates(file);
  all[repo] = { ...all[repo], ...update };
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}
