import { resolve } from "node:path";
import { shortSha } from "../../subjects/mod.js";
import { addRepoToConfig, announcePush, cloneRemote, installHooks, prePush, pushesConfirmed, uninstallHooks, type HookName, HOOKS } from "../../src/features/repos/mod.js";
import { connectMesh } from "../../src/bus/connection.js";
import { oneLine } from "../../src/base/errors.js";
import { connectionOf, type GlobalOptions } from "../../src/config/config.js";
import { resolved, selfIdentity } from "./common.js";

/** The command the hooks run: this node and this mesh, with the config named at install (if one was). */
function meshCommand(opts: GlobalOptions): string[] {
  return [process.execPath, resolve(process.argv[1] ?? "mesh"), ...(opts.config ? ["--config", resolve(opts.config)] : [])];
}

export async function hookInstall(path: string | undefined, opts: GlobalOptions): Promise<void> {
  const repo = resolve(path ?? ".");
  const r = await installHooks(repo, meshCommand(opts));
  const chained = r.chained.length ? `; your own ${r.chained.join(", ")} kept and run first (${r.chained.map((h) => `${h}.mesh-chained`).join(", ")})` : "";
  process.stdout.write(`installed ${r.installed.join(" + ")} in ${r.hooksDir}${chained}\n`);
  // The clone follows pushes and takes pinned jobs only once it is in the config's repos.
  const cfg = await resolved(opts);
  const entry = addRepoToConfig(cfg.configPath, { path: repo, remote: await cloneRemote(repo) });
  process.stdout.write(entry.added ? `added ${repo} to repos in ${cfg.configPath} as ${entry.name}\n` : `${repo} is already in repos (${entry.name})\n`);
}

export async function hookUninstall(path: string | undefined, _opts: GlobalOptions): Promise<void> {
  const repo = resolve(path ?? ".");
  const r = await uninstallHooks(repo);
  const parts = [
    r.removed.length ? `removed ${r.removed.join(" + ")} from ${r.hooksDir}` : `no mesh hook in ${r.hooksDir}`,
    ...(r.restored.length ? [`restored your ${r.restored.join(", ")}`] : []),
    ...(r.notOurs.length ? [`left ${r.notOurs.join(", ")} alone (not the mesh's)`] : []),
  ];
  process.stdout.write(`${parts.join("; ")}\n`);
}

async function stdinText(): Promise<string> {
  if (process.stdin.isTTY) return "";
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Run by the installed hooks, in the clone. Never fails: a push goes on whatever happens here;
 * an event that cannot be published is one line on stderr.
 */
export async function hookRun(hook: string, args: string[], opts: GlobalOptions): Promise<number> {
  try {
    if (!(HOOKS as readonly string[]).includes(hook)) throw new Error(`unknown hook ${hook}`);
    const input = await stdinText();
    const repo = process.cwd();
    if ((hook as HookName) === "pre-push") {
      await prePush(repo, args, input);
      return 0;
    }
    const pushes = await pushesConfirmed(repo, args, input);
    if (pushes.length === 0) return 0;
    const r = await resolved(opts);
    const self = selfIdentity(r);
    const nc = await connectMesh({ ...connectionOf(r), name: "mesh-git-hook", identity: self, timeoutMs: 2000 });
    try {
      for (const body of pushes) {
        const p = await announcePush(nc, self, body);
        process.stderr.write(`mesh: announced ${body.repo ?? body.remote} ${body.refs.map((x) => `${x.ref.replace("refs/heads/", "")}@${shortSha(x.new)}`).join(", ")} (events.${self}.git.pushed seq ${p.seq ?? "?"})\n`);
      }
    } finally {
      await nc.close().catch(() => undefined);
    }
  } catch (err) {
    process.stderr.write(`mesh: push not announced to the mesh (${oneLine(err)}); the push itself is fine\n`);
  }
  return 0;
}
