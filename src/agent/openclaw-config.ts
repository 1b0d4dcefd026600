import { existsSync, readFileSync } from "node:fs";
import { copySecretFile, tightenSecretFile, writeSecretFile } from "../base/files.js";
import { homedir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { z } from "zod";

/** The local OpenClaw gateway's config (~/.openclaw/openclaw.json), read and patched with care. */
export function openclawConfigPath(home = homedir()): string {
  return join(process.env.OPENCLAW_HOME ?? join(home, ".openclaw"), "openclaw.json");
}

const gatewayFile = z
  .object({
    hooks: z.object({ enabled: z.boolean().optional(), token: z.string().optional(), path: z.string().optional() }).passthrough().optional(),
    gateway: z.object({ port: z.number().optional(), auth: z.object({ token: z.string().optional() }).passthrough().optional() }).passthrough().optional(),
    channels: z.object({ a2a: z.object({ enabled: z.boolean().optional(), replyTimeoutMs: z.number().positive().optional() }).passthrough().optional() }).passthrough().optional(),
  })
  .passthrough();

export interface GatewayFacts {
  path: string;
  exists: boolean;
  /** Parsed as plain JSON (a JSON5 file with comments is left to `openclaw config set`). */
  parsed?: z.infer<typeof gatewayFile>;
  hooksToken?: string;
  gatewayToken?: string;
  hooksPath?: string;
  port?: number;
  /** channels.a2a.enabled: the gateway's A2A channel is on (the mesh then bridges through it). */
  a2aEnabled?: boolean;
  /** channels.a2a.replyTimeoutMs: how long the A2A channel holds a blocking SendMessage (OpenClaw's default 120 s). */
  a2aReplyTimeoutMs?: number;
}

export function readGatewayConfig(path = openclawConfigPath()): GatewayFacts {
  if (!existsSync(path)) return { path, exists: false };
  try {
    const parsed = gatewayFile.parse(JSON.parse(readFileSync(path, "utf8")));
    return {
      path,
      exists: true,
      parsed,
      ...(parsed.hooks?.enabled && parsed.hooks.token ? { hooksToken: parsed.hooks.token } : {}),
      ...(parsed.gateway?.auth?.token ? { gatewayToken: parsed.gateway.auth.token } : {}),
      ...(parsed.hooks?.path ? { hooksPath: parsed.hooks.path } : {}),
      ...(parsed.gateway?.port ? { port: parsed.gateway.port } : {}),
      ...(parsed.channels?.a2a?.enabled ? { a2aEnabled: true } : {}),
      ...(parsed.channels?.a2a?.replyTimeoutMs ? { a2aReplyTimeoutMs: parsed.channels.a2a.replyTimeoutMs } : {}),
    };
  } catch {
    return { path, exists: true };
  }
}

export function newToken(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * Turns on the gateway's hooks for the mesh: enabled, a token (kept if one exists), mesh sessions
 * allowed. Writes a backup first (openclaw.json.mesh-backup). Returns what changed.
 */
export function enableHooks(facts: GatewayFacts, dryRun: boolean): { changed: boolean; token: string; backup?: string; widerBefore?: string } {
  if (!facts.parsed) throw new Error(`${facts.path} is not plain JSON; run: openclaw config set hooks.enabled true (and hooks.token, hooks.allowRequestSessionKey, hooks.allowedSessionKeyPrefixes)`);
  const cfg = structuredClone(facts.parsed) as Record<string, unknown> & { hooks?: Record<string, unknown> };
  const hooks = { ...(cfg.hooks ?? {}) } as Record<string, unknown>;
  const token = typeof hooks.token === "string" && hooks.token.length >= 16 ? hooks.token : newToken();
  const prefixes = new Set<string>(Array.isArray(hooks.allowedSessionKeyPrefixes) ? (hooks.allowedSessionKeyPrefixes as string[]) : ["hook:"]);
  prefixes.add("mesh:");
  const next = {
    ...hooks,
    enabled: true,
    token,
    path: typeof hooks.path === "string" ? hooks.path : "/hooks",
    allowRequestSessionKey: true,
    allowedSessionKeyPrefixes: [...prefixes],
  };
  const changed = JSON.stringify(next) !== JSON.stringify(hooks);
  if (changed && !dryRun) {
    const backup = `${facts.path}.mesh-backup`;
    // It holds the hooks token: the file and its backup are 0600.
    copySecretFile(facts.path, backup);
    const w = writeSecretFile(facts.path, `${JSON.stringify({ ...cfg, hooks: next }, null, 2)}\n`);
    return { changed, token, backup, ...w };
  }
  return { changed, token };
}

/**
 * Turns on the gateway's A2A channel (channels.a2a.enabled), so the sidecar bridges peers'
 * messages as conversations (not webhooks); the sidecar itself keeps channels.a2a.peers in step
 * with the mesh. rateLimitPerMinute is set to 0 only when unset: the only callers are this Mac's
 * own sidecar (one token per mesh identity, loopback), and a backlog after an outage should not
 * wait a minute per 30 messages. Writes a backup first. OpenClaw hot-reloads channels.a2a.
 */
export function enableA2A(facts: GatewayFacts, dryRun: boolean): { changed: boolean; backup?: string; widerBefore?: string } {
  if (!facts.parsed) throw new Error(`${facts.path} is not plain JSON; run: openclaw config set channels.a2a.enabled true`);
  const cfg = structuredClone(facts.parsed) as Record<string, unknown> & { channels?: Record<string, unknown> };
  const channels = { ...(cfg.channels ?? {}) } as Record<string, unknown>;
  const a2a = { ...((channels.a2a as Record<string, unknown> | undefined) ?? {}) };
  const next = { ...a2a, enabled: true, rateLimitPerMinute: a2a.rateLimitPerMinute ?? 0, peers: a2a.peers ?? {} };
  const changed = JSON.stringify(next) !== JSON.stringify(channels.a2a);
  if (changed && !dryRun) {
    const backup = `${facts.path}.mesh-backup`;
    if (!existsSync(backup)) copySecretFile(facts.path, backup);
    else tightenSecretFile(backup);
    const current = JSON.parse(readFileSync(facts.path, "utf8")) as Record<string, unknown>;
    const w = writeSecretFile(facts.path, `${JSON.stringify({ ...current, channels: { ...((current.channels as object) ?? {}), a2a: next } }, null, 2)}\n`);
    return { changed, backup, ...w };
  }
  return { changed };
}
