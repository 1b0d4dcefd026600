import { normalizeRemote, stripCredentials } from "../../../subjects/mod.js";
import type { RepoConfig } from "./config.js";
import { git } from "./git.js";

/** The configured clones that follow this remote (compared without credentials, `.git` or case of the host). */
export function clonesOf(repos: readonly RepoConfig[], remote: string): RepoConfig[] {
  const want = normalizeRemote(remote);
  return repos.filter((r) => normalizeRemote(r.remote) === want);
}

/**
 * The clone's remote (its name in `git remote`) whose URL is the configured one, or a one-line
 * reason why there is none. Fetches name it, never a URL from an event.
 */
export async function remoteNameOf(repo: RepoConfig): Promise<{ name: string } | { reason: string }> {
  let out: string;
  try {
    out = (await git(["-C", repo.path, "config", "--get-regexp", "^remote\\..*\\.url$"], { timeoutMs: 10_000 })).stdout;
  } catch (err) {
    return { reason: `${repo.path} is not a git clone with remotes (${(err as Error).message})` };
  }
  const want = normalizeRemote(repo.remote);
  for (const line of out.split("\n")) {
    const m = /^remote\.(.+)\.url (.*)$/.exec(line.trim());
    if (m && normalizeRemote(m[2]!) === want) return { name: m[1]! };
  }
  return { reason: `${repo.path} has no remote whose URL is ${stripCredentials(repo.remote)} (see git -C ${repo.path} remote -v)` };
}
