import { rmSync } from "node:fs";
import { join } from "node:path";
import { isSha, optionLike, shortSha, stripCredentials } from "../../../subjects/mod.js";
import { MeshError } from "../../base/errors.js";
import { clonesOf, remoteNameOf } from "./clones.js";
import type { RepoConfig } from "./config.js";
import { git, gitOk } from "./git.js";

/** A job's repo could not be prepared; `final` when another attempt (on any worker) cannot help. */
export class CheckoutError extends MeshError {
  override name = "CheckoutError";
  constructor(
    message: string,
    readonly final: boolean,
  ) {
    super(message);
  }
}

export interface PinnedRepo {
  name: string;
  remote: string;
}

export interface Checkout {
  repo: string;
  sha: string;
  dir: string;
  remove(): Promise<void>;
}

/** This machine's clone of a pinned repo: the same name and remote, or else the same remote. */
export function cloneFor(repos: readonly RepoConfig[], pin: PinnedRepo): RepoConfig | undefined {
  const same = clonesOf(repos, pin.remote);
  return same.find((r) => r.name === pin.name) ?? same[0];
}

async function hasCommit(path: string, sha: string): Promise<boolean> {
  return gitOk(["-C", path, "cat-file", "-e", `${sha}^{commit}`]);
}

/**
 * Before a pinned job's turn: the commit fetched into this machine's clone (from its configured
 * remote) and checked out, detached, in a worktree of its own under `root` — the clone's own
 * working files are never touched. `remove()` deletes the worktree after the turn.
 */
export async function checkoutForJob(o: { repos: readonly RepoConfig[]; root: string; jobId: string; pin: PinnedRepo; sha: string; timeoutMs?: number }): Promise<Checkout> {
  const { pin, sha } = o;
  if (!isSha(sha)) throw new CheckoutError(`commit ${JSON.stringify(sha)} is not a full SHA`, true);
  const clone = cloneFor(o.repos, pin);
  if (!clone) {
    throw new CheckoutError(`this worker has no clone of ${pin.name} (${stripCredentials(pin.remote)}) in its config (repos)`, false);
  }
  const rn = await remoteNameOf(clone);
  if ("reason" in rn) throw new CheckoutError(rn.reason, false);
  const timeoutMs = o.timeoutMs ?? 120_000;
  let why = "";
  if (!(await hasCommit(clone.path, sha))) {
    // What was pushed is on a branch: a plain fetch brings it. A commit no branch holds is asked
    // for by name (servers allow it with protocol v2 or uploadpack.allowReachableSHA1InWant).
    for (const argv of [["fetch", "--quiet", "--", rn.name], ["fetch", "--quiet", "--", rn.name, sha]]) {
      try {
        await git(["-C", clone.path, ...argv], { timeoutMs });
      } catch (err) {
        why = (err as Error).message;
      }
      if (await hasCommit(clone.path, sha)) break;
    }
    if (!(await hasCommit(clone.path, sha))) {
      throw new CheckoutError(`cannot fetch ${shortSha(sha)} of ${clone.name} from ${stripCredentials(clone.remote)}${why ? ` (${why})` : " (the remote does not have it)"}`, true);
    }
  }
  if (optionLike("job id", o.jobId)) throw new CheckoutError(`job id ${JSON.stringify(o.jobId)} cannot name a worktree`, true);
  const dir = join(o.root, clone.name, `job-${o.jobId}`);
  // A worktree left by an earlier attempt that died: forget it first.
  rmSync(dir, { recursive: true, force: true });
  await git(["-C", clone.path, "worktree", "prune"]).catch(() => undefined);
  try {
    await git(["-C", clone.path, "worktree", "add", "--quiet", "--detach", dir, sha], { timeoutMs });
  } catch (err) {
    throw new CheckoutError(`cannot check out ${shortSha(sha)} of ${clone.name} in ${dir}: ${(err as Error).message}`, false);
  }
  return {
    repo: clone.name,
    sha,
    dir,
    async remove() {
      await git(["-C", clone.path, "worktree", "remove", "--force", dir]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      await git(["-C", clone.path, "worktree", "prune"]).catch(() => undefined);
    },
  };
}

/**
 * `mesh job submit --repo <name> --at <sha|branch>`: the configured clone's full SHA for `at`
 * (a branch is read as the remote's, `<remote>/<branch>`, when the clone has it, else as a local
 * name). The job carries the SHA and the remote, never a path.
 */
export async function resolvePin(repos: readonly RepoConfig[], name: string, at: string): Promise<{ repo: PinnedRepo; sha: string }> {
  const clone = repos.find((r) => r.name === name);
  if (!clone) throw new MeshError(`no repo ${name} in the config (repos: ${repos.map((r) => r.name).join(", ") || "none"})`);
  const bad = optionLike("--at", at);
  if (bad) throw new MeshError(bad);
  const rn = await remoteNameOf(clone);
  const candidates = [...("name" in rn && !isSha(at) ? [`refs/remotes/${rn.name}/${at}`] : []), at];
  for (const c of candidates) {
    const out = await git(["-C", clone.path, "rev-parse", "--verify", "--quiet", "--end-of-options", `${c}^{commit}`]).catch(() => undefined);
    const sha = out?.stdout.trim();
    if (sha && isSha(sha)) return { repo: { name: clone.name, remote: stripCredentials(clone.remote) }, sha };
  }
  throw new MeshError(`${at} is not a commit or branch in ${clone.name} (${clone.path})`);
}

