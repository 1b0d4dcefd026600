import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { expandHome, meshHome } from "../base/files.js";
import type { MeshConfig } from "./config-file.js";

export type { MeshConfig } from "./config-file.js";
export { assertPrivateFile, expandHome, meshHome } from "../base/files.js";

/**
 * Configuration: flags > environment > config file > defaults, resolved here once for every
 * command. The file is JSON, validated with zod; a bad file is one line naming the field.
 */
export const DEFAULT_SERVER = "nats://127.0.0.1:4222";


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

