import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { jobStatus, submitJob, waitForJob } from "../../src/features/jobs/client.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { NativeJobs } from "../../src/features/jobs/native.js";
import { createLogger } from "../../src/base/log.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { storedEnvelopes, stubReplies, until } from "../support/sidecar.js";

/**
 * Shared repos with real git: a bare repo on this machine (file://) is the shared remote, two
 * clones stand for two Macs (clawd pushes, nova follows), their sidecars on one broker.
 */
let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let gateway: HooksEndpoint;
let clawd: Sidecar & { configPath: string; stateDir: string };
let nova: Sidecar & { configPath: string; stateDir: string };
const root = mkdtempSync(join(tmpdir(), "mesh-repos-"));
const bare = join(root, "cackles.git");
const REMOTE = `file://${bare}`;
const clawdClone = join(root, "clawd", "cackles");
const novaClone = join(root, "nova", "cackles");
const pwned = join(root, "pwned");

const GIT_ENV = { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" };
function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, ...GIT_ENV }, stdio: ["ignore", "pipe", "pipe"] }).trim();
}
/** A push as a person runs it: the hooks see this environment (the mesh CLI finds the broker and identity in it). */
function push(cwd: string, env: Record<string, string>, ...args: string[]) {
  const r = spawnSync("git", ["push", ...args], { cwd, encoding: "utf8", env: { ...process.env, ...GIT_ENV, MESH_LOG_LEVEL: "warn", ...env } });
  return { code: r.status, stderr: r.stderr };
}
function commit(cwd: string, file: string): string {
  writeFileSync(join(cwd, file), `${file} ${Date.now()}\n`);
  git(cwd, "add", file);
  git(cwd, "commit", "-q", "-m", file);
  return git(cwd, "rev-parse", "HEAD");
}
function revParse(cwd: string, ref: string): string | undefined {
  const r = spawnSync("git", ["rev-parse", "--verify", "--quiet", ref], { cwd, encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
const events = async (kind: string, from = "*") => storedEnvelopes(nc, "EVENTS", `events.${from}.${kind}`);

beforeAll(async () => {
  m = await startMesh();
  ({ broker, nc, gateway } = m);
  execFileSync("git", ["init", "-q", "--bare", "-b", "main", bare]);
  execFileSync("git", ["clone", "-q", REMOTE, clawdClone], { stdio: "ignore" });
  git(clawdClone, "checkout", "-q", "-b", "main");
  commit(clawdClone, "README");
  git(clawdClone, "push", "-q", "origin", "main");
  execFileSync("git", ["clone", "-q", REMOTE, novaClone], { stdio: "ignore" });
  clawd = await m.sidecar("clawd", { jobs: false, repos: [{ path: clawdClone, remote: REMOTE }] });
  nova = await m.sidecar("nova", {
    replies: stubReplies(gateway, 50),
    jobs: { queues: ["default"] },
    // The remote as nova's config spells it: with a trailing .git-less form and a slash — compared normalised.
    repos: [{ path: novaClone, remote: `${REMOTE}/` }],
    hooks: [{ name: "follow", on: "events.*.git.pushed", from: ["clawd"], action: { type: "git-fetch", timeoutMs: 30_000 } }],
  });
}, 60_000);

afterAll(async () => {
  await m?.stop();
});

describe("shared repos", () => {
  it("`mesh git hook install` records the clone in the config's repos; a push in clawd's clone is announced as git.pushed and fetched into nova's clone (its origin/main is the pushed SHA, its own HEAD and files untouched), reported as git.fetched", async () => {
    const config = join(root, "clawd-config.json");
    writeFileSync(config, "{}\n", { mode: 0o600 });
    const install = await mesh(["git", "hook", "install", clawdClone], { env: { MESH_CONFIG: config } });
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout.trim().split("\n")).toEqual([
      `installed pre-push + reference-transaction in ${join(clawdClone, ".git", "hooks")}`,
      `added ${clawdClone} to repos in ${config} as cackles`,
    ]);
    // The clone is now in the config's repos (where fetches and pinned jobs take paths from); installing again keeps one entry.
    expect(JSON.parse(readFileSync(config, "utf8")).repos).toEqual([{ path: clawdClone, remote: REMOTE }]);
    expect((await mesh(["git", "hook", "install", clawdClone], { env: { MESH_CONFIG: config } })).stdout).toContain(`${clawdClone} is already in repos (cackles)`);
    expect(JSON.parse(readFileSync(config, "utf8")).repos).toHaveLength(1);
    const novaHead = git(novaClone, "rev-parse", "HEAD");
    const sha = commit(clawdClone, "feature.txt");
    const t0 = Date.now();
    const p = push(clawdClone, { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" }, "-q", "origin", "main");
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toMatch(new RegExp(`^mesh: announced cackles main@${sha.slice(0, 12)} \\(events\\.clawd\\.git\\.pushed seq \\d+\\)\\n$`));
    const pushedAt = Date.now();
    await until("nova's origin/main at the pushed SHA", () => revParse(novaClone, "refs/remotes/origin/main") === sha, 20_000);
    const fetchedAt = Date.now();
    console.log(`push→fetch: ${fetchedAt - t0} ms from \`git push\` start (the push itself with its hook took ${pushedAt - t0} ms; announced→fetched ${fetchedAt - pushedAt} ms)`);
    const pushed = (await events("git.pushed", "clawd")).at(-1)!;
    expect(pushed.body).toEqual({ remote: REMOTE, repo: "cackles", refs: [{ ref: "refs/heads/main", old: expect.stringMatching(/^[0-9a-f]{40}$/), new: sha }] });
    const fetched = await until("git.fetched", async () => (await events("git.fetched", "nova")).find((e) => (e.body as { eventId: string }).eventId === pushed.id));
    expect(fetched.body).toMatchObject({ repo: "cackles", refs: [{ ref: "refs/remotes/origin/main", sha }] });
    // git fetch only: nova's checked-out branch and files did not move.
    expect(git(novaClone, "rev-parse", "HEAD")).toBe(novaHead);
    expect(existsSync(join(novaClone, "feature.txt"))).toBe(false);
  });

  it("with the broker down the push succeeds (exit 0, the remote has the commit) and the hook says so in one line on stderr", async () => {
    const sha = commit(clawdClone, "offline.txt");
    // A port nothing listens on: the broker is down.
    const p = push(clawdClone, { MESH_SERVER: "nats://127.0.0.1:1", MESH_IDENTITY: "clawd" }, "-q", "origin", "main");
    expect(p.code, p.stderr).toBe(0);
    expect(execFileSync("git", ["--git-dir", bare, "rev-parse", "refs/heads/main"], { encoding: "utf8" }).trim()).toBe(sha);
    expect(p.stderr.split("\n").filter(Boolean)).toEqual([
      "mesh: push not announced to the mesh (cannot reach the broker at nats://127.0.0.1:1 (connection refused); start one with `mesh up` or pass --server); the push itself is fine",
    ]);
  });

  it("a user's own pre-push hook is kept and run before the mesh's (a failing one still stops the push); uninstall puts it back", async () => {
    const dir = join(root, "chained");
    execFileSync("git", ["clone", "-q", REMOTE, dir], { stdio: "ignore" });
    const mine = join(dir, ".git", "hooks", "pre-push");
    const log = join(root, "chained.log");
    writeFileSync(mine, `#!/bin/sh\necho "$1 $(cat)" >> ${log}\n[ -f ${join(root, "refuse")} ] && exit 1\nexit 0\n`);
    chmodSync(mine, 0o755);
    writeFileSync(join(root, "chained-config.json"), "{}\n", { mode: 0o600 });
    const install = await mesh(["git", "hook", "install", dir], { env: { MESH_CONFIG: join(root, "chained-config.json") } });
    expect(install.stdout).toContain("your own pre-push kept and run first (pre-push.mesh-chained)");
    const sha = commit(dir, "chained.txt");
    expect(push(dir, { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" }, "-q", "origin", "HEAD:refs/heads/chained").code).toBe(0);
    expect(readFileSync(log, "utf8")).toContain(`origin HEAD ${sha} refs/heads/chained`);
    writeFileSync(join(root, "refuse"), "");
    commit(dir, "refused.txt");
    expect(push(dir, { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" }, "-q", "origin", "HEAD:refs/heads/chained").code).not.toBe(0);
    const un = await mesh(["git", "hook", "uninstall", dir]);
    expect(un.stdout.trim()).toBe(`removed pre-push + reference-transaction from ${join(dir, ".git", "hooks")}; restored your pre-push`);
    expect(readFileSync(mine, "utf8")).toContain(`echo "$1 $(cat)" >> ${log}`);
  });

  it("a rule whose from excludes the pusher does nothing: lyra's git.pushed is skipped and nova's clone fetches nothing", async () => {
    // lyra really pushed (straight to the remote, no hook), then announces it.
    const other = join(root, "lyra");
    execFileSync("git", ["clone", "-q", REMOTE, other], { stdio: "ignore" });
    const sha = commit(other, "lyra.txt");
    git(other, "push", "-q", "origin", "HEAD:refs/heads/from-lyra");
    const skipped = nova.hooks!.stats.get("follow")!.skipped;
    await m.event("lyra", "git.pushed", { remote: REMOTE, refs: [{ ref: "refs/heads/from-lyra", old: "0".repeat(40), new: sha }] });
    await until("the follow rule skipped lyra's event", () => nova.hooks!.stats.get("follow")!.skipped === skipped + 1);
    expect(revParse(novaClone, "refs/remotes/origin/from-lyra")).toBeUndefined();
    expect(revParse(novaClone, `${sha}^{commit}`)).toBeUndefined();
  });

  it("malicious git.pushed events (a local path, --upload-pack=… as remote and as ref, a URL not in config) fetch nothing and are refused with the reason, as git.fetch-failed and dead letters", async () => {
    // Something to fetch that no announced push brought: if any refused event ran a fetch, it would land in nova's clone.
    const other = join(root, "lyra");
    const unseen = commit(other, "unseen.txt");
    git(other, "push", "-q", "origin", "HEAD:refs/heads/unseen");
    const elsewhere = join(root, "elsewhere.git");
    execFileSync("git", ["clone", "-q", "--bare", bare, elsewhere], { stdio: "ignore" });
    const sha = "a".repeat(40);
    const cases: Array<[string, unknown, string]> = [
      ["a local path", { remote: elsewhere, refs: [{ ref: "refs/heads/main", old: "", new: sha }] }, `remote ${elsewhere} is not a repo in this machine's config (repos)`],
      [
        "--upload-pack as the remote",
        { remote: `--upload-pack=touch ${pwned}`, refs: [{ ref: "refs/heads/main", old: "", new: sha }] },
        `remote "--upload-pack=touch ${pwned}" starts with "-" (it would be read as a git option)`,
      ],
      [
        "--upload-pack as a ref",
        { remote: REMOTE, refs: [{ ref: `--upload-pack=touch ${pwned}`, old: "", new: sha }] },
        `ref "--upload-pack=touch ${pwned}" starts with "-" (it would be read as a git option)`,
      ],
      ["a URL not in config", { remote: "https://user:token@evil.example/cackles.git", refs: [{ ref: "refs/heads/main", old: "", new: sha }] }, "remote https://evil.example/cackles.git is not a repo in this machine's config (repos)"],
    ];
    const ids: string[] = [];
    for (const [, body] of cases) ids.push(await m.event("clawd", "git.pushed", body));
    const failed = await until("four git.fetch-failed", async () => {
      const all = (await events("git.fetch-failed", "nova")).filter((e) => ids.includes((e.body as { eventId: string }).eventId));
      return all.length === cases.length && all;
    });
    expect(ids.map((id) => (failed.find((e) => (e.body as { eventId: string }).eventId === id)!.body as { reason: string }).reason)).toEqual(cases.map(([, , reason]) => reason));
    const dead = await until("four dead letters", async () => {
      const all = (await storedEnvelopes(nc, "DLQ-nova", "dlq.nova.hooks.*")).filter((d) => ids.includes((d.body as { originalId?: string }).originalId ?? ""));
      return all.length === cases.length && all;
    });
    expect(dead.map((d) => (d.body as { reason: string }).reason).sort()).toEqual(cases.map(([, , reason]) => `rule follow: ${reason}`).sort());
    // Nothing was fetched, and nothing ran.
    expect(revParse(novaClone, "refs/remotes/origin/unseen")).toBeUndefined();
    expect(revParse(novaClone, `${unseen}^{commit}`)).toBeUndefined();
    expect(existsSync(pwned)).toBe(false);
  });

  it("a job pinned with --repo cackles --at <sha> runs on exactly that commit: nova fetches it, checks it out in a worktree of its own, the turn text names the worktree, the record carries the SHA, the worktree is gone after", async () => {
    // A commit nova's clone does not have yet (pushed without announcing it: git push --no-verify skips pre-push).
    const sha = commit(clawdClone, "pinned.txt");
    git(clawdClone, "push", "-q", "--no-verify", "origin", "HEAD:refs/heads/pinned");
    expect(revParse(novaClone, `${sha}^{commit}`)).toBeUndefined();
    let seenHead: string | undefined;
    gateway.respond = (h) => {
      const m = /\[checked out cackles at ([0-9a-f]{40}) in (\S+)\]/.exec(h.body.message ?? "");
      if (m) seenHead = revParse(m[2]!, "HEAD");
      return undefined;
    };
    const r = await mesh(["job", "submit", "--repo", "cackles", "--at", sha, "run the test suite", "--json"], { env: { MESH_SERVER: broker.url, MESH_CONFIG: clawd.configPath } });
    expect(r.code, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout) as { id: string }).id;
    const done = await waitForJob(nc, id, 30_000);
    gateway.respond = undefined;
    expect(done).toMatchObject({ state: "done", worker: "nova", repo: { name: "cackles", remote: REMOTE }, sha });
    const dir = join(nova.stateDir, "worktrees", "cackles", `job-${id}`);
    const turn = gateway.received.find((h) => h.body.message?.includes(`[mesh job ${id}]`))!;
    expect(turn.body.message).toContain(`\n[checked out cackles at ${sha} in ${dir}]\n\nrun the test suite`);
    expect(seenHead).toBe(sha);
    // Removed after the turn: its folder and git's record of it (git removes the folder first, then the record).
    const worktrees = () => git(novaClone, "worktree", "list", "--porcelain").split("\n").filter((l) => l.startsWith("worktree "));
    await until("the worktree removed after the turn", () => !existsSync(dir) && worktrees().length === 1, 10_000);
    expect(worktrees()).toEqual([`worktree ${novaClone}`]);
    const st = await mesh(["job", "status", id], { env: { MESH_SERVER: broker.url } });
    expect(st.stdout).toContain(`  at cackles@${sha} (${REMOTE})`);
  });

  it("the native form: an agent's message '[repo cackles at pinned-2]\\n<task>' to a job peer is submitted by its sidecar pinned to that branch's SHA, and runs on exactly it", async () => {
    const sha = commit(clawdClone, "native.txt");
    git(clawdClone, "push", "-q", "--no-verify", "origin", "HEAD:refs/heads/pinned-2");
    git(clawdClone, "fetch", "-q", "origin");
    // What clawd's sidecar does with a message to a2a:jobs.default (src/features/jobs/native.ts).
    const native = new NativeJobs({ nc, self: "clawd", agent: clawd.agent, log: createLogger({ name: "native", level: "silent" }), repos: [{ path: clawdClone, remote: REMOTE, name: "cackles" }] });
    try {
      await expect(native.submit("jobs.default", "[repo nope at main]\nrun it", "ctx-native")).rejects.toThrow("no repo nope in the config (repos: cackles)");
      const { id } = await native.submit("jobs.default", "[repo cackles at pinned-2]\nrun the native suite", "ctx-native");
      const done = await waitForJob(nc, id, 30_000);
      expect(done).toMatchObject({ state: "done", worker: "nova", submittedBy: "clawd", task: "run the native suite", repo: { name: "cackles", remote: REMOTE }, sha });
      const turn = gateway.received.find((h) => h.body.message?.includes(`[mesh job ${id}]`))!;
      expect(turn.body.message).toContain(`[checked out cackles at ${sha} in ${join(nova.stateDir, "worktrees", "cackles", `job-${id}`)}]\n\nrun the native suite`);
    } finally {
      await native.stop();
    }
  });

  it("a job pinned to a commit the remote does not have fails at once (one attempt, final) with the reason", async () => {
    const local = commit(clawdClone, "never-pushed.txt");
    const job = await submitJob(nc, { from: "clawd", task: "test it", pin: { repo: { name: "cackles", remote: REMOTE }, sha: local }, maxAttempts: 3 });
    const done = await waitForJob(nc, job.id, 30_000);
    expect(done).toMatchObject({ state: "failed", attempts: 1, sha: local });
    // git's own words; which side reports it ("remote error: upload-pack" or "git upload-pack") varies between runs.
    expect(done.error).toMatch(new RegExp(`^cannot fetch ${local.slice(0, 12)} of cackles from ${REMOTE.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}/ \\(git fetch origin ${local}: fatal: (remote error: |git )upload-pack: not our ref ${local}\\)$`));
    const failed = (await events("job.failed", "nova")).find((e) => (e.body as { jobId: string }).jobId === job.id);
    expect(failed?.body).toMatchObject({ final: true });
    expect((await jobStatus(nc, job.id)).state).toBe("failed");
  });

  it("mesh doctor shows each configured repo: hook missing is a failure with its fix; once installed, ok with the remote and the last fetch", async () => {
    const before = await mesh(["doctor", "--json"], { env: { MESH_SERVER: broker.url, MESH_CONFIG: nova.configPath } });
    const check = (out: string) => (JSON.parse(out) as { checks: Array<{ name: string; status: string; detail: string; fix?: string }> }).checks.find((c) => c.name === "repo cackles");
    expect(check(before.stdout)).toMatchObject({ status: "fail", fix: `mesh git hook install ${novaClone}` });
    expect(check(before.stdout)!.detail).toMatch(/; push hook not installed \(pushes here are not announced\)$/);
    writeFileSync(join(root, "nova-config.json"), "{}\n", { mode: 0o600 });
    await mesh(["git", "hook", "install", novaClone], { env: { MESH_CONFIG: join(root, "nova-config.json") } });
    const after = await mesh(["doctor", "--json"], { env: { MESH_SERVER: broker.url, MESH_CONFIG: nova.configPath } });
    expect(check(after.stdout)).toMatchObject({ status: "ok" });
    expect(check(after.stdout)!.detail).toMatch(new RegExp(`^${novaClone}: remote origin matches ${REMOTE}/; last fetch \\d+s ago \\([0-9a-f]{12}\\); push hook installed$`));
  });
});
