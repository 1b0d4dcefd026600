/** `mesh git hook install|uninstall|run`: shared repos. register() declares them; each action loads what it runs. */
import { resolve } from "node:path";
import type { Command } from "@commander-js/extra-typings";
import type { HookName } from "../../src/features/repos/mod.js";
import { oneLine } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { configFor, run, selfIdentity } from "./common.js";

export function register(program: Command): void {
  const gitCmd = program.command("git").description("shared repos: pushes become mesh events, clones follow");
  const gitHook = gitCmd.command("hook").description("the git hooks that announce this clone's pushes");

  gitHook
    .command("install")
    .description("install the push hooks in a clone (pre-push + reference-transaction); a hook of yours is chained")
    .argument("[path]", "the clone (default: the current directory)")
    .addHelpText(
      "after",
      `
A push that succeeded publishes events.<identity>.git.pushed {remote, refs}; a push is never
blocked or failed by the mesh (a down broker is one line on stderr).

Example:
  $ mesh git hook install ~/code/cackles`,
    )
    .action(run(hookInstall));

  gitHook
    .command("uninstall")
    .description("remove the push hooks and put back the hooks they chained")
    .argument("[path]", "the clone (default: the current directory)")
    .action(run(hookUninstall));

  gitHook
    .command("run", { hidden: true })
    .description("run by the installed hooks")
    .argument("<hook>", "pre-push or reference-transaction")
    .argument("[args...]", "the hook's arguments")
    .action(run(hookRun));
}

/** The command the hooks run: this node and this mesh, with the config named at install (if one was). */
function meshCommand(opts: GlobalOptions): string[] {
  return [process.execPath, resolve(process.argv[1] ?? "mesh"), ...(opts.config ? ["--config", resolve(opts.config)] : [])];
}

async function hookInstall(path: string | undefined, opts: GlobalOptions): Promise<void> {
  const { addRepoToConfig, cloneRemote, installHooks } = await import("../../src/features/repos/mod.js");
  const repo = resolve(path ?? ".");
  const r = await installHooks(repo, meshCommand(opts));
  const chained = r.chained.length ? `; your own ${r.chained.join(", ")} kept and run first (${r.chained.map((h) => `${h}.mesh-chained`).join(", ")})` : "";
  process.stdout.write(`installed ${r.installed.join(" + ")} in ${r.hooksDir}${chained}\n`);
  // The clone follows pushes and takes pinned jobs only once it is in the config's repos.
  const cfg = await configFor(opts);
  const entry = addRepoToConfig(cfg.configPath, { path: repo, remote: await cloneRemote(repo) });
  process.stdout.write(entry.added ? `added ${repo} to repos in ${cfg.configPath} as ${entry.name}\n` : `${repo} is already in repos (${entry.name})\n`);
}

async function hookUninstall(path: string | undefined, _opts: GlobalOptions): Promise<void> {
  const { uninstallHooks } = await import("../../src/features/repos/mod.js");
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
async function hookRun(hook: string, args: string[], opts: GlobalOptions): Promise<number> {
  try {
    const [{ shortSha }, { announcePush, prePush, pushesConfirmed, HOOKS }, { connectionOf }, { connectMesh }] = await Promise.all([
      import("../../subjects/mod.js"),
      import("../../src/features/repos/mod.js"),
      import("../../src/config/config.js"),
      import("../../src/bus/connection.js"),
    ]);
    if (!(HOOKS as readonly string[]).includes(hook)) throw new Error(`unknown hook ${hook}`);
    const input = await stdinText();
    const repo = process.cwd();
    if ((hook as HookName) === "pre-push") {
      await prePush(repo, args, input);
      return 0;
    }
    const pushes = await pushesConfirmed(repo, args, input);
    if (pushes.length === 0) return 0;
    const r = await configFor(opts);
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
