/** Shared repos (README "Shared repos"): pushes as events, clones that follow, jobs pinned to a commit. */
export { repoSchema, reposSchema } from "./config.js";
export { GitFetcher, pushRefusal, DEFAULT_FETCH_TIMEOUT_MS } from "./fetch.js";
export { checkoutForJob, resolvePin, cloneFor, CheckoutError } from "./checkout.js";
export { installHooks, uninstallHooks, installedHooks, prePush, pushesConfirmed, hookScript, HOOKS, MARKER } from "./hook.js";
export { announcePush } from "./announce.js";
export { addRepoToConfig, cloneRemote } from "./config-entry.js";
export { repoHealth } from "./health.js";
export { REPOS_STATE_FILE, reposStatePath, readRepoStates, recordRepoState } from "./state.js";
export { git, GitError } from "./git.js";
export type { RepoConfig } from "./config.js";
export type { Checkout, PinnedRepo } from "./checkout.js";
export type { HookName, HookReport } from "./hook.js";
export type { RepoHealth } from "./health.js";
export type { RepoState } from "./state.js";
