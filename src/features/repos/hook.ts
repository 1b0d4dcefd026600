import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { stripCredentials, repoNameFrom, isSha } from "../../../subjects/mod.js";
import type { EventBody } from "../../../subjects/mod.js";
import { MeshError } from "../../base/errors.js";
import { git } from "./git.js";

/**
 * `mesh git hook install|uninstall`: the git hooks that turn a push that succeeded into a
 * `git.pushed` event. A pushing clone has no post-push hook, so two hooks work together:
 *
 *   pre-push               git hands it the refs about to be pushed; it only writes them down
 *                          (<git-dir>/mesh-push-pending.json) — a push it saw may still fail.
 *   reference-transaction  after the server accepted the push, git moves the clone's
 *                          remote-tracking refs (refs/remotes/<remote>/<branch>) in a committed
 *                          transaction; a pending ref landing there at the pushed SHA is a push
 *                          that succeeded, and only then is the event published.
 *
 * Both hooks exit 0 whatever the mesh does (a push is never blocked or failed by it); a hook of the
 * user's already there is kept as <hook>.mesh-chained and run first, with the same arguments and
 * input, and its exit status is the hook's.
 */
export const MARKER = "# openclaw-mesh git hook";
export const HOOKS = ["pre-push", "reference-transaction"] as const;
export type HookName = (typeof HOOKS)[number];
const CHAINED = ".mesh-chained";
const PENDING_FILE = "mesh-push-pending.json";
/** A push confirmed later than this after its pre-push is not announced. */
const PENDING_TTL_MS = 10 * 60_000;

async function gitPath(repo: string, what: "hooks" | "dir"): Promise<string> {
  try {
    const out = what === "hooks" ? await git(["-C", repo, "rev-parse", "--git-path", "hooks"]) : await git(["-C", repo, "rev-parse", "--absolute-git-dir"]);
    return resolve(repo, out.stdout.trim());
  } catch (err) {
    throw new MeshError(`${repo} is not a git clone (${(err as Error).message})`);
  }
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The script of one hook: the user's chained hook first, then the mesh (never failing). */
export function hookScript(hook: HookName, command: string[]): string {
  const mesh = command.map(quote).join(" ");
  const when =
    hook === "reference-transaction"
      ? // Every ref update of the clone runs this hook: start the mesh only for a committed one while a push is pending.
        `[ "$1" = committed ] && [ -f "$(git rev-parse --absolute-git-dir 2>/dev/null)/${PENDING_FILE}" ]`
      : "true";
  return `#!/bin/sh
${MARKER} (${hook}): \`mesh git hook uninstall\` removes it and puts back the hook it chained.
# It never blocks or fails a push: the mesh's part always exits 0.
input=$(cat)
status=0
chained="$(dirname "$0")/${hook}${CHAINED}"
if [ -x "$chained" ]; then
  printf '%s\\n' "$input" | "$chained" "$@"
  status=$?
fi
if [ "$status" -eq 0 ] && ${when}; then
  printf '%s\\n' "$input" | ${mesh} git hook run ${hook} "$@" || true
fi
exit "$status"
`;
}

export interface HookReport {
  hooksDir: string;
  installed: HookName[];
  chained: HookName[];
}

/** Installs both hooks in the clone (idempotent); a hook of the user's is chained, not replaced. */
export async function installHooks(repo: string, command: string[]): Promise<HookReport> {
  const hooksDir = await gitPath(repo, "hooks");
  const report: HookReport = { hooksDir, installed: [], chained: [] };
  for (const hook of HOOKS) {
    const file = join(hooksDir, hook);
    if (existsSync(file) && !readFileSync(file, "utf8").includes(MARKER)) {
      if (existsSync(file + CHAINED)) throw new MeshError(`${file}${CHAINED} already exists: move it or ${file} aside first`);
      renameSync(file, file + CHAINED);
      report.chained.push(hook);
    }
    writeFileSync(file, hookScript(hook, command), { mode: 0o755 });
    chmodSync(file, 0o755);
    report.installed.push(hook);
  }
  return report;
}

/** Removes the mesh's hooks and puts back the hooks they chained; a hook that is not the mesh's is left alone. */
export async function uninstallHooks(repo: string): Promise<{ hooksDir: string; removed: HookName[]; restored: HookName[]; notOurs: HookName[] }> {
  const hooksDir = await gitPath(repo, "hooks");
  const out = { hooksDir, removed: [] as HookName[], restored: [] as HookName[], notOurs: [] as HookName[] };
  for (const hook of HOOKS) {
    const file = join(hooksDir, hook);
    if (!existsSync(file)) continue;
    if (!readFileSync(file, "utf8").includes(MARKER)) {
      out.notOurs.push(hook);
      continue;
    }
    rmSync(file);
    out.removed.push(hook);
    if (existsSync(file + CHAINED)) {
      renameSync(file + CHAINED, file);
      out.restored.push(hook);
    }
  }
  return out;
}

/** Which of the mesh's hooks the clone has (for `mesh doctor`). */
export async function installedHooks(repo: string): Promise<HookName[]> {
  const hooksDir = await gitPath(repo, "hooks");
  return HOOKS.filter((h) => {
    try {
      return readFileSync(join(hooksDir, h), "utf8").includes(MARKER);
    } catch {
      return false;
    }
  });
}

const pendingSchema = z.array(
  z.object({ at: z.number(), remoteName: z.string(), url: z.string(), ref: z.string(), old: z.string(), new: z.string() }).strict(),
);
type Pending = z.infer<typeof pendingSchema>;

function readPending(file: string): Pending {
  try {
    const p = pendingSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    return p.success ? p.data.filter((e) => Date.now() - e.at < PENDING_TTL_MS) : [];
  } catch {
    return [];
  }
}

function writePending(file: string, p: Pending): void {
  if (p.length === 0) rmSync(file, { force: true });
  else writeFileSync(file, JSON.stringify(p), { mode: 0o600 });
}

/**
 * pre-push: `$1` the remote's name (or its URL), `$2` its URL; stdin `<local ref> <local sha>
 * <remote ref> <remote sha>` per ref. Writes down the branches about to be pushed (deletions are
 * not announced).
 */
export async function prePush(repo: string, args: string[], input: string): Promise<number> {
  const [remoteName = "", url = ""] = args;
  const file = join(await gitPath(repo, "dir"), PENDING_FILE);
  const pending = readPending(file);
  let n = 0;
  for (const line of input.split("\n")) {
    const [, localSha = "", remoteRef = "", remoteSha = ""] = line.trim().split(/\s+/);
    if (!isSha(localSha) || /^0+$/.test(localSha) || !remoteRef.startsWith("refs/heads/")) continue;
    pending.push({ at: Date.now(), remoteName, url: stripCredentials(url), ref: remoteRef, old: remoteSha, new: localSha });
    n++;
  }
  writePending(file, pending);
  return n;
}

/**
 * reference-transaction `committed`: stdin `<old> <new> <ref>` per ref. A pending push whose
 * remote-tracking ref now points at the pushed SHA succeeded: its event body, one per remote.
 */
export async function pushesConfirmed(repo: string, args: string[], input: string): Promise<Array<EventBody<"git.pushed">>> {
  if (args[0] !== "committed") return [];
  const file = join(await gitPath(repo, "dir"), PENDING_FILE);
  let pending = readPending(file);
  if (pending.length === 0) {
    rmSync(file, { force: true });
    return [];
  }
  const confirmed: Pending = [];
  for (const line of input.split("\n")) {
    const [, sha = "", ref = ""] = line.trim().split(/\s+/);
    const hit = pending.find((p) => ref === `refs/remotes/${p.remoteName}/${p.ref.slice("refs/heads/".length)}` && p.new === sha);
    if (hit) {
      confirmed.push(hit);
      pending = pending.filter((p) => p !== hit);
    }
  }
  if (confirmed.length === 0) return [];
  writePending(file, pending);
  const byUrl = new Map<string, Pending>();
  for (const c of confirmed) byUrl.set(c.url, [...(byUrl.get(c.url) ?? []), c]);
  return [...byUrl].map(([url, refs]) => ({ remote: url, repo: repoNameFrom(url), refs: refs.map((r) => ({ ref: r.ref, old: r.old, new: r.new })) }));
}
