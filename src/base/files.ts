import { statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "./errors.js";

/** "~/x" → "<home>/x" (paths in the config file and flags). */
export function expandHome(p: string): string {
  return p === "~" ? homedir() : p.startsWith("~/") ? join(homedir(), p.slice(2)) : p;
}

/** ~/.config/openclaw-mesh (or $MESH_HOME): config, broker state, sidecar state. */

export function meshHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.MESH_HOME ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "openclaw-mesh");
}

/** Refuses secret files readable by group or others (POSIX only). */
export function assertPrivateFile(path: string): void {
  if (process.platform === "win32") return;
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    throw new ConfigError(`${path}: cannot read it`);
  }
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
    );
  }
}
