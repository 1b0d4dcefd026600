import { copyFileSync, mkdirSync, readFileSync, existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../base/package-root.js";

/** The SKILL.md shipped with this package. */
export const SKILL_SOURCE = join(packageRoot(), "skill", "mesh", "SKILL.md");

export function defaultWorkspace(): string {
  return join(process.env.OPENCLAW_HOME ?? join(homedir(), ".openclaw"), "workspace");
}

/** Copies the mesh skill into <workspace>/skills/mesh/SKILL.md; returns what happened. */
export function installSkill(workspace = defaultWorkspace(), dryRun = false): { path: string; change: "created" | "updated" | "unchanged" } {
  const dir = join(workspace, "skills", "mesh");
  const path = join(dir, "SKILL.md");
  const want = readFileSync(SKILL_SOURCE, "utf8");
  const have = existsSync(path) ? readFileSync(path, "utf8") : undefined;
  const change = have === undefined ? "created" : have === want ? "unchanged" : "updated";
  if (!dryRun && change !== "unchanged") {
    mkdirSync(dir, { recursive: true });
    copyFileSync(SKILL_SOURCE, path);
  }
  return { path, change };
}
