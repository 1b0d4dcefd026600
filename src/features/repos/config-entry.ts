import { existsSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { basename } from "node:path";
import { MeshError } from "../../base/errors.js";
import { normalizeRemote, stripCredentials } from "../../../subjects/mod.js";
import { git } from "./git.js";

/** The URL of the clone's upstream remote (`origin`, or its only remote), credentials stripped. */
export async function cloneRemote(path: string): Promise<string> {
  const out = (await git(["-C", path, "config", "--get-regexp", "^remote\\..*\\.url$"], { timeoutMs: 10_000 })).stdout;
  const remotes = out
    .split("\n")
    .map((l) => /^remote\.(.+)\.url (.*)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1]!, url: m[2]! }));
  const chosen = remotes.find((r) => r.name === "origin") ?? (remotes.length === 1 ? remotes[0] : undefined);
  if (!chosen) throw new MeshError(`${path} has ${remotes.length ? `several remotes (${remotes.map((r) => r.name).join(", ")}) and none is origin` : "no remote"}: add it to the config's repos by hand ({ "path": "${path}", "remote": "<url>" })`);
  return stripCredentials(chosen.url);
}

/**
 * Records a clone in the mesh config's `repos` (the only place fetches and pinned jobs take paths
 * from), unless a clone with that path is there. Keeps the file's mode (it may hold tokens).
 */
export function addRepoToConfig(configPath: string, repo: { path: string; remote: string }): { added: boolean; name: string } {
  const raw = existsSync(configPath) ? (JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>) : {};
  const repos = Array.isArray(raw.repos) ? (raw.repos as Array<{ path?: string; remote?: string; name?: string }>) : [];
  const same = repos.find((r) => r.path === repo.path);
  if (same) {
    if (same.remote && normalizeRemote(same.remote) !== normalizeRemote(repo.remote)) {
      throw new MeshError(`${repo.path} is in the config's repos with remote ${stripCredentials(same.remote)}, but its origin is ${repo.remote}: fix one of them`);
    }
    return { added: false, name: same.name ?? basename(repo.path) };
  }
  raw.repos = [...repos, { path: repo.path, remote: repo.remote }];
  writeFileSync(configPath, `${JSON.stringify(raw, null, 2)}\n`, { mode: 0o600 });
  chmodSync(configPath, 0o600);
  return { added: true, name: basename(repo.path) };
}
