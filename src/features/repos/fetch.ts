import { branchOf, eventBodies, isSha, optionLike, refNameRefusal, stripCredentials, type Envelope } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import type { EventPublisher } from "../../bus/events.js";
import type { DeliveryResult } from "../../agent/port.js";
import { clonesOf, remoteNameOf } from "./clones.js";
import type { RepoConfig } from "./config.js";
import { git, GitError, gitOk } from "./git.js";
import { recordRepoState } from "./state.js";

export const DEFAULT_FETCH_TIMEOUT_MS = 120_000;

/** A push event's values, each allowed to reach git, or the one-line reason it is refused. */
export function pushRefusal(env: Envelope): string | undefined {
  if (env.type !== "git.pushed") return `git-fetch acts on git.pushed events only (got ${env.type ?? "no type"})`;
  const parsed = eventBodies["git.pushed"].safeParse(env.body);
  if (!parsed.success) return "not a git.pushed body";
  const body = parsed.data;
  const bad = optionLike("remote", body.remote);
  if (bad) return bad;
  for (const r of body.refs) {
    const why = refNameRefusal(r.ref) ?? optionLike("SHA", r.new);
    if (why) return why;
    if (!isSha(r.new)) return `new SHA ${JSON.stringify(r.new)} of ${r.ref} is not a full SHA`;
  }
  return undefined;
}

/**
 * The `git-fetch` hook action: for a `git.pushed` event, `git fetch` in every configured clone
 * whose remote is the event's remote — never a merge, never a checkout. Paths, remote names and
 * the argv come from the config; from the event only the remote (to find the clones) and the refs
 * and SHAs (to check what arrived). Each result is an event: `git.fetched`, or `git.fetch-failed`
 * with the reason.
 */
export class GitFetcher {
  constructor(
    private readonly opts: { repos: readonly RepoConfig[]; events: EventPublisher; log: Logger; stateFile: string },
  ) {}

  private failed(env: Envelope, remote: string, reason: string, retryable: boolean, repo?: string): DeliveryResult {
    this.opts.events.emit("git.fetch-failed", { eventId: env.id, ...(repo ? { repo } : {}), remote: stripCredentials(remote), reason });
    if (repo) recordRepoState(this.opts.stateFile, repo, { lastError: reason, lastErrorAt: new Date().toISOString() });
    this.opts.log.warn({ event: env.id, from: env.from, repo, reason }, "git fetch refused or failed");
    return { ok: false, status: 0, retryable, reason };
  }

  async fetchFor(env: Envelope, timeoutMs = DEFAULT_FETCH_TIMEOUT_MS): Promise<DeliveryResult> {
    const raw = (env.body as { remote?: unknown } | undefined)?.remote;
    const remote = typeof raw === "string" ? raw : "";
    const refused = pushRefusal(env);
    if (refused) return this.failed(env, remote, refused, false);
    const body = eventBodies["git.pushed"].parse(env.body);
    const clones = clonesOf(this.opts.repos, body.remote);
    if (clones.length === 0) return this.failed(env, remote, `remote ${stripCredentials(body.remote)} is not a repo in this machine's config (repos)`, false);
    const pushed = body.refs.filter((r) => !/^0+$/.test(r.new));
    for (const clone of clones) {
      const t0 = Date.now();
      const rn = await remoteNameOf(clone);
      if ("reason" in rn) return this.failed(env, remote, rn.reason, false, clone.name);
      try {
        await git(["-C", clone.path, "fetch", "--quiet", "--prune", "--", rn.name], { timeoutMs });
      } catch (err) {
        return this.failed(env, remote, `git fetch in ${clone.name}: ${(err as Error).message}`, err instanceof GitError, clone.name);
      }
      const missing: string[] = [];
      for (const r of pushed) if (!(await gitOk(["-C", clone.path, "cat-file", "-e", `${r.new}^{commit}`]))) missing.push(`${r.ref}@${r.new.slice(0, 12)}`);
      // A push can be overtaken (a force-push after it) before this fetch: say so, a retry cannot help.
      if (missing.length) return this.failed(env, remote, `fetched ${clone.name}, but the remote no longer has ${missing.join(", ")}`, false, clone.name);
      const refs: Array<{ ref: string; sha: string }> = [];
      for (const r of pushed) {
        const branch = branchOf(r.ref);
        if (!branch) continue;
        const tracking = `refs/remotes/${rn.name}/${branch}`;
        const sha = (await git(["-C", clone.path, "rev-parse", "--verify", "--quiet", `${tracking}^{commit}`]).catch(() => ({ stdout: "" }))).stdout.trim();
        refs.push({ ref: tracking, sha: sha || r.new });
      }
      const latencyMs = Date.now() - t0;
      const head = refs[0]?.sha ?? pushed[0]?.new;
      recordRepoState(this.opts.stateFile, clone.name, { lastFetchAt: new Date().toISOString(), ...(head ? { lastSha: head } : {}) });
      this.opts.events.emit("git.fetched", { eventId: env.id, repo: clone.name, remote: stripCredentials(clone.remote), refs, latencyMs });
      this.opts.log.info({ event: env.id, from: env.from, repo: clone.name, refs, latencyMs }, "git fetched");
    }
    return { ok: true, status: 200 };
  }
}
