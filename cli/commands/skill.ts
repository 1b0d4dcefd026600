import { installSkill } from "../../src/ops/skill.js";

export async function skillInstall(opts: { workspace?: string; dryRun?: boolean }): Promise<void> {
  const r = installSkill(opts.workspace, opts.dryRun);
  process.stdout.write(`${opts.dryRun ? "would be " : ""}${r.change}: ${r.path}\n`);
}
