import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ConfigError } from "./errors.js";
import type { MeshConfig } from "./config-file.js";

export type { MeshConfig, GatewayConfig } from "./config-file.js";

/**
 * Configuration: flags > environment > config file > defaults, resolved here once for every
 * command. The file is JSON, validated with zod; a bad file is one line naming the field.
 */
export const DEFAULT_SERVER = "nats://127.0.0.1:4222";

/** "~/x" → "<home>/x" (paths in the config file and flags). */
export function expandHome(p: string): string {
  return p === "~" ? homedir() : p.startsWith("~/") ? join(homedir(), p.slice(2)) : p;
}

export function meshHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.MESH_HOME ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "openclaw-mesh");
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.MESH_CONFIG ?? join(meshHome(env), "config.json");
}

export interface GlobalOptions {
  server?: string;
  creds?: string;
  config?: string;
  identity?: string;
}

export interface Resolved {
  config: MeshConfig;
  configPath: string;
  server: string;
  creds?: string;
  identity?: string;
}

/** flags > MESH_* environment > config file > defaults. */
export async function resolveConfig(flags: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<Resolved> {
  const explicit = flags.config ?? env.MESH_CONFIG;
  const configPath = resolve(explicit ?? defaultConfigPath(env));
  let config: MeshConfig;
  if (explicit !== undefined || existsSync(configPath)) {
    const { loadConfigFile } = await import("./config-file.js");
    config = loadConfigFile(configPath, explicit !== undefined);
  } else {
    config = { capabilities: [], hooks: [] };
  }
  const identity = flags.identity ?? env.MESH_IDENTITY ?? config.identity;
  const rawCreds = flags.creds ?? env.MESH_CREDS ?? config.creds;
  const creds = rawCreds !== undefined ? expandHome(rawCreds) : undefined;
  return {
    config,
    configPath,
    server: flags.server ?? env.MESH_SERVER ?? config.server ?? DEFAULT_SERVER,
    ...(creds !== undefined ? { creds } : {}),
    ...(identity !== undefined ? { identity } : {}),
  };
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
