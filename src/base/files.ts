import { chmodSync, copyFileSync, existsSync, statSync, writeFileSync } from "node:fs";
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

/**
 * Writes a file that holds secrets (tokens): in place (same inode: a watcher sees the change), then
 * mode 0600 whatever it was. Returns the old mode when it was wider (the caller warns: it was
 * readable by other local users until now).
 */
export function writeSecretFile(path: string, content: string): { widerBefore?: string } {
  const before = existsSync(path) ? statSync(path).mode & 0o777 : undefined;
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
  return before !== undefined && (before & 0o077) !== 0 ? { widerBefore: before.toString(8) } : {};
}

/** Copies a secret file (a backup of one) and makes the copy 0600. */
export function copySecretFile(from: string, to: string): void {
  copyFileSync(from, to);
  chmodSync(to, 0o600);
}

/** A backup already there from an earlier version may be wider: tightened, reported like writeSecretFile. */
export function tightenSecretFile(path: string): { widerBefore?: string } {
  if (!existsSync(path)) return {};
  const before = statSync(path).mode & 0o777;
  if ((before & 0o077) === 0) return {};
  chmodSync(path, 0o600);
  return { widerBefore: before.toString(8) };
}
