import { isLoopback } from "../base/loopback-host.js";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { natsConfigDir, writeNatsContext } from "../config/nats-context.js";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { meshProgram } from "../base/package-root.js";
import { identity as checkIdentity } from "../../subjects/mod.js";
import { configSchema, type MeshConfig } from "../config/config-file.js";
import { DEFAULT_A2A_PORT } from "../config/ports.js";
import { connectMesh } from "../bus/connection.js";
import { installSkill } from "./skill.js";
import { enableA2A, enableHooks, openclawConfigPath, readGatewayConfig } from "../agent/openclaw-config.js";
import { installService } from "./service-install.js";
import { leafInit, type LeafInitOptions } from "./leaf-init.js";
import { SIDECAR_NODE_FLAGS } from "./service.js";

export interface InitOptions {
  identity: string;
  server: string;
  creds?: string;
  alert?: string;
  capabilities?: string[];
  tailscaleKey?: string;
  gateway: string;
  configureGateway?: boolean;
  dryRun?: boolean;
  /** Where things go (a temporary HOME in tests). */
  home?: string;
  meshHome: string;
  configPath: string;
  platform?: NodeJS.Platform;
  /** Write the service file but do not load/start it. */
  noStart?: boolean;
  /** Also write a natscli context of this name (url + creds), so `nats` and `mesh` share one. */
  natsContext?: string;
  workspace?: string;
  /** Leaf mode (`--leaf`): this Mac's leaf server, its config and service; `server` becomes the leaf. */
  leaf?: LeafInitOptions;
  /** Opt-in A2A listener beyond loopback (sidecar.a2aHost / a2aPort). */
  a2aHost?: string;
  a2aPort?: number;
}

import type { Step, StepStatus } from "./steps.js";
export type { Step, StepStatus } from "./steps.js";

export function writeIfChanged(path: string, content: string, mode: number, dryRun: boolean): StepStatus {
  const have = existsSync(path) ? readFileSync(path, "utf8") : undefined;
  if (have === content) {
    if (!dryRun) chmodSync(path, mode);
    return "unchanged";
  }
  if (dryRun) return "would";
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return have === undefined ? "created" : "updated";
}

export function has(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** `mesh init`: the whole setup of one machine, step by step; safe to run again. */
export async function init(o: InitOptions): Promise<Step[]> {
  const steps: Step[] = [];
  const home = o.home ?? homedir();
  const dry = Boolean(o.dryRun);
  const platform = o.platform ?? process.platform;
  const id = checkIdentity(o.identity);
  const caps = (o.capabilities ?? []).map((c) => checkIdentity(c, "capability"));

  // 1. Gateway hooks (only when asked) — first, because the config refers to the token files.
  const facts = readGatewayConfig(openclawConfigPath(home));
  const hooksTokenFile = join(o.meshHome, "hooks-token");
  const gatewayTokenFile = join(o.meshHome, "gateway-token");
  let hooksToken = facts.hooksToken;
  if (o.configureGateway) {
    if (!facts.exists) {
      steps.push({ step: "gateway hooks", status: "failed", detail: `${facts.path} not found: install and run OpenClaw first (openclaw onboard)` });
    } else {
      try {
        const r = enableHooks(facts, dry);
        hooksToken = r.token;
        steps.push({
          step: "gateway hooks",
          status: r.changed ? (dry ? "would" : "updated") : "unchanged",
          detail: r.changed
            ? `${dry ? "would enable" : "enabled"} hooks with mesh sessions in ${facts.path}${r.backup ? ` (backup ${r.backup}); restart the gateway: openclaw gateway restart` : ""}${r.widerBefore ? `; it was readable by other local users (mode ${r.widerBefore}) and holds tokens: now 0600` : ""}`
            : `hooks already enabled for the mesh in ${facts.path}`,
        });
      } catch (err) {
        steps.push({ step: "gateway hooks", status: "failed", detail: (err as Error).message });
      }
      try {
        const r = enableA2A(readGatewayConfig(facts.path), dry);
        steps.push({
          step: "gateway A2A channel",
          status: r.changed ? (dry ? "would" : "updated") : "unchanged",
          detail: r.changed
            ? `${dry ? "would enable" : "enabled"} channels.a2a in ${facts.path}: peers' messages arrive as conversations; the sidecar adds every mesh identity as a peer (a2a:<id>)`
            : `channels.a2a already enabled in ${facts.path}`,
        });
      } catch (err) {
        steps.push({ step: "gateway A2A channel", status: "failed", detail: (err as Error).message });
      }
    }
  } else {
    steps.push({
      step: "gateway hooks",
      status: hooksToken ? "unchanged" : "skipped",
      detail: hooksToken ? `hooks enabled in ${facts.path}` : "not configured (pass --configure-gateway to enable the gateway's hooks for the mesh)",
    });
  }
  if (hooksToken) {
    const st = writeIfChanged(hooksTokenFile, `${hooksToken}\n`, 0o600, dry);
    steps.push({ step: "hooks token file", status: st, detail: `${hooksTokenFile} (0600)` });
  }
  if (facts.gatewayToken) {
    const st = writeIfChanged(gatewayTokenFile, `${facts.gatewayToken}\n`, 0o600, dry);
    steps.push({ step: "gateway token file", status: st, detail: `${gatewayTokenFile} (0600; read-only WebSocket)` });
  }

  // 2. Leaf mode: the Mac's leaf server (config, service, started), so the sidecar and CLI talk to localhost.
  if (o.leaf) {
    const leaf = leafInit(o.leaf, { platform, home, dryRun: dry, noStart: Boolean(o.noStart), logDir: o.meshHome, write: writeIfChanged, has });
    steps.push(...leaf.steps);
    o = { ...o, server: leaf.server };
  }

  // 3. The mesh config.
  const existing = existsSync(o.configPath) ? (JSON.parse(readFileSync(o.configPath, "utf8")) as Partial<MeshConfig>) : {};
  const config: Record<string, unknown> = {
    ...existing,
    identity: id,
    server: o.server,
    ...(o.creds ? { creds: o.creds } : {}),
    ...(o.leaf ? { leaf: { mac: o.leaf.mac, hub: o.leaf.hub, credential: o.leaf.credentialFile, port: o.leaf.port, monitorPort: o.leaf.monitorPort, stateDir: o.leaf.stateDir } } : {}),
    capabilities: caps.length ? caps : (existing.capabilities ?? []),
    gateway: {
      ...(existing.gateway ?? {}),
      url: o.gateway,
      ...(hooksToken || existsSync(hooksTokenFile) ? { hooksTokenFile } : {}),
      ...(facts.gatewayToken || existsSync(gatewayTokenFile) ? { tokenFile: gatewayTokenFile } : {}),
    },
    ...(o.alert ? { alerts: { ...(existing.alerts ?? {}), channel: existing.alerts?.channel ?? "imessage", to: o.alert } } : {}),
    ...(o.a2aHost || o.a2aPort
      ? { sidecar: { ...(existing.sidecar ?? {}), ...(o.a2aHost ? { a2aHost: o.a2aHost } : {}), ...(o.a2aPort ? { a2aPort: o.a2aPort } : {}) } }
      : {}),
  };
  configSchema.parse(config);
  const st = writeIfChanged(o.configPath, `${JSON.stringify(config, null, 2)}\n`, 0o600, dry);
  steps.push({ step: "mesh config", status: st, detail: `${o.configPath} (0600)` });
  if (o.a2aHost && !isLoopback(o.a2aHost)) {
    steps.push({
      step: "A2A listener",
      status: "warning",
      detail: `the sidecar's A2A server will also listen on ${o.a2aHost}:${o.a2aPort ?? DEFAULT_A2A_PORT}, not loopback: any client that can reach it and holds a token from sidecar.a2aClients talks to the mesh as ${id} (plain HTTP: keep it on the tailnet)`,
    });
  }
  if (o.natsContext) {
    const env = { ...process.env, ...(o.home ? { HOME: o.home } : {}) };
    const file = join(natsConfigDir(env), "context", `${o.natsContext}.json`);
    if (dry) steps.push({ step: "nats context", status: "would", detail: `write ${file} (url ${o.server}${o.creds ? `, creds ${o.creds}` : ""})` });
    else {
      writeNatsContext(o.natsContext, { url: o.server, ...(o.creds ? { creds: o.creds } : {}), description: `openclaw-mesh identity ${id}` }, env);
      steps.push({ step: "nats context", status: "done", detail: `${file} (0600): \`nats --context ${o.natsContext} …\` and \`mesh --context ${o.natsContext} …\` reach the same broker` });
    }
  }

  // 4. Reachability.
  if (dry) steps.push({ step: "broker", status: "would", detail: `check ${o.server}` });
  else {
    try {
      const nc = await connectMesh({ server: o.server, ...(o.creds ? { creds: o.creds } : {}), timeoutMs: 3000, identity: id });
      steps.push({ step: "broker", status: "done", detail: `reachable at ${o.server} (nats-server ${nc.info?.version ?? "?"})` });
      await nc.close();
    } catch (err) {
      steps.push({ step: "broker", status: "warning", detail: (err as Error).message });
    }
  }
  if (dry) steps.push({ step: "gateway", status: "would", detail: `check ${o.gateway}` });
  else {
    try {
      await fetch(o.gateway, { signal: AbortSignal.timeout(3000) });
      steps.push({ step: "gateway", status: "done", detail: `reachable at ${o.gateway}` });
    } catch {
      steps.push({ step: "gateway", status: "warning", detail: `no answer at ${o.gateway}: start it with \`openclaw gateway\`` });
    }
  }

  // 5. The skill.
  const skill = installSkill(o.workspace ?? join(home, ".openclaw", "workspace"), dry);
  steps.push({ step: "skill", status: dry && skill.change !== "unchanged" ? "would" : skill.change, detail: skill.path });

  // 6. Tailscale (when its CLI is here).
  if (has("tailscale")) {
    const status = spawnSync("tailscale", ["status", "--json"], { encoding: "utf8", timeout: 10_000 });
    let running = false;
    try {
      running = (JSON.parse(status.stdout) as { BackendState?: string }).BackendState === "Running";
    } catch {
      /* not logged in yet */
    }
    if (o.tailscaleKey && running) {
      steps.push({ step: "tailscale", status: "unchanged", detail: "already up (not re-authenticating)" });
    } else if (o.tailscaleKey) {
      const args = ["up", "--authkey", o.tailscaleKey, "--hostname", `openclaw-${id}`];
      if (dry) steps.push({ step: "tailscale", status: "would", detail: `tailscale up --authkey *** --hostname openclaw-${id}` });
      else {
        const r = spawnSync("tailscale", args, { encoding: "utf8", timeout: 60_000 });
        steps.push({
          step: "tailscale",
          status: r.status === 0 ? "done" : "failed",
          detail: r.status === 0 ? `up as openclaw-${id}` : `tailscale up failed: ${(r.stderr || r.stdout).trim().split("\n")[0]}`,
        });
      }
    }
    if (!dry) {
      const ip = spawnSync("tailscale", ["ip", "-4"], { encoding: "utf8", timeout: 10_000 });
      if (ip.status === 0) steps.push({ step: "tailscale ip", status: "done", detail: ip.stdout.trim().split("\n")[0] ?? "" });
    }
  } else if (o.tailscaleKey) {
    steps.push({ step: "tailscale", status: "skipped", detail: "the tailscale CLI is not installed (https://tailscale.com/download)" });
  }

  // 7. The service (and, in leaf mode, the leaf server's, written above).
  const main = meshProgram();
  const spec = {
    argv: [process.execPath, ...SIDECAR_NODE_FLAGS, main, "sidecar"],
    env: { MESH_CONFIG: o.configPath, PATH: process.env.PATH ?? "/usr/bin:/bin" },
    logDir: o.meshHome,
  };
  steps.push(...installService({ platform, home, spec, dryRun: dry, noStart: Boolean(o.noStart), write: writeIfChanged, has }));
  return steps;
}
