/** `mesh skill install`: the skill that teaches agents the mesh. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import { run } from "./common.js";

export function register(program: Command): void {
  program
    .command("skill")
    .description("the OpenClaw skill that teaches agents to use the mesh")
    .command("install")
    .description("copy SKILL.md into the gateway workspace (skills/mesh/SKILL.md)")
    .option("--workspace <dir>", "agent workspace (default ~/.openclaw/workspace)")
    .option("--dry-run", "show what would change")
    .action(run(skillInstall));
}

async function skillInstall(opts: { workspace?: string; dryRun?: boolean }): Promise<void> {
  const { installSkill } = await import("../../src/ops/skill.js");
  const r = installSkill(opts.workspace, opts.dryRun);
  process.stdout.write(`${opts.dryRun ? "would be " : ""}${r.change}: ${r.path}\n`);
}
