import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { expandHome, meshHome } from "../base/files.js";
import type { MeshConfig } from "./config-file.js";
import { HUB_DOMAIN } from "../../subjects/names.js";
import { loadNatsContext, selectedContextName, type ContextAuth } from "./nats-context.js";

export type { MeshConfig } from "./config-file.js";

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
  /** A natscli context by name (`--context`, MESH_CONTEXT). */
  context?: string;
}

export interface Resolved {
  config: MeshConfig;
  configPath: string;
  server: string;
  creds?: string;
  identity?: string;
  /** The natscli context in effect, if one is: its name and what it adds to the connection. */
  context?: { name: string; auth: ContextAuth };
}

/**
 * flags > MESH_* environment > the natscli context named by --context / MESH_CONTEXT > config file >
 * the natscli context selected in context.txt (only when nothing else names a server) > defaults.
 */
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
  const named = flags.context ?? env.MESH_CONTEXT;
  const serverGiven = flags.server ?? env.MESH_SERVER ?? config.server;
  const selected = named === undefined && serverGiven === undefined ? selectedContextName(env) : undefined;
  const ctx = named !== undefined ? loadNatsContext(named, env) : selected !== undefined ? loadNatsContext(selected, env) : undefined;
  const explicitCtx = named !== undefined ? ctx : undefined;
  const rawCreds = flags.creds ?? env.MESH_CREDS ?? explicitCtx?.creds ?? config.creds ?? ctx?.creds;
  const creds = rawCreds !== undefined ? expandHome(rawCreds) : undefined;
  return {
    config,
    configPath,
    server: flags.server ?? env.MESH_SERVER ?? explicitCtx?.url ?? config.server ?? ctx?.url ?? DEFAULT_SERVER,
    ...(creds !== undefined ? { creds } : {}),
    ...(identity !== undefined ? { identity } : {}),
    ...(ctx ? { context: { name: ctx.name, auth: ctx.auth } } : {}),
  };
}


/** What a connection of this resolved configuration needs: the server, the credentials, a context's extras. */
export function connectionOf(r: Resolved): { server: string; creds?: string; auth?: ContextAuth; hubDomain?: string } {
  return {
    server: r.server,
    ...(r.creds ? { creds: r.creds } : {}),
    ...(r.context ? { auth: r.context.auth } : {}),
    // Leaf mode: the server is this Mac's leaf; presence and the registry are the hub's, in its domain.
    ...(r.config.leaf ? { hubDomain: HUB_DOMAIN } : {}),
  };
}

/** The sidecar's state directory: the flag, the config's sidecar.stateDir, or ~/.config/openclaw-mesh/sidecar-<id>. */
export function sidecarStateDir(r: Resolved, id: string, flag?: string): string {
  return expandHome(flag ?? r.config.sidecar?.stateDir ?? join(meshHome(), `sidecar-${id}`));
}
