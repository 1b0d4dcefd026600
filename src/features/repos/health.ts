import { existsSync } from "node:fs";
import { shortSha, stripCredentials } from "../../../subjects/mod.js";
import { remoteNameOf } from "./clones.js";
import type { RepoConfig } from "./config.js";
import { HOOKS, installedHooks } from "./hook.js";
import { readRepoStates } from "./state.js";

export interface RepoHealth {
  ok: boolean;
  detail: string;
  fix?: string;
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

/** One configured repo for `mesh doctor`: the clone, its remote, the hooks, the last fetch. */
export async function repoHealth(repo: RepoConfig, stateFile: string): Promise<RepoHealth> {
  if (!existsSync(repo.path)) return { ok: false, detail: `${repo.path} does not exist`, fix: `git clone ${stripCredentials(repo.remote)} ${repo.path}` };
  const rn = await remoteNameOf(repo);
  if ("reason" in rn) return { ok: false, detail: rn.reason, fix: `git -C ${repo.path} remote set-url origin ${stripCredentials(repo.remote)} (or fix repos[].remote in the config)` };
  const hooks = await installedHooks(repo.path).catch(() => []);
  const state = readRepoStates(stateFile)[repo.name];
  const fetched = state?.lastFetchAt ? `last fetch ${ago(state.lastFetchAt)}${state.lastSha ? ` (${shortSha(state.lastSha)})` : ""}` : "never fetched by the mesh yet";
  const failed = state?.lastErrorAt && (!state.lastFetchAt || state.lastErrorAt > state.lastFetchAt) ? `; last failure ${ago(state.lastErrorAt)}: ${state.lastError}` : "";
  const base = `${repo.path}: remote ${rn.name} matches ${stripCredentials(repo.remote)}; ${fetched}${failed}`;
  if (hooks.length < HOOKS.length) {
    return { ok: false, detail: `${base}; push hook not installed (pushes here are not announced)`, fix: `mesh git hook install ${repo.path}` };
  }
  return { ok: true, detail: `${base}; push hook installed` };
}
