/** `mesh init`: set up this machine. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import type { Step } from "../../src/ops/init.js";
import type { GlobalOptions, MeshConfig } from "../../src/config/config.js";
import { expandHome, meshHome } from "../../src/base/files.js";
import { join, resolve } from "node:path";
import type { LeafInitOptions } from "../../src/ops/leaf-init.js";
import { DEFAULT_HUB_LEAF_PORT, DEFAULT_LEAF_CLIENT_PORT, DEFAULT_LEAF_MONITOR_PORT } from "../../broker/leaf-server.js";
import { MeshError } from "../../src/base/errors.js";
import { DEFAULT_A2A_PORT } from "../../src/config/ports.js";
import { jsonFlag, parsePort, printJson, configFor, run } from "./common.js";

export function register(program: Command): void {
  program
    .command("init")
    .description("set up this machine: config, broker and gateway checks, skill, tailscale, service")
    .option("--server <url>", "the broker (e.g. nats://100.101.102.103:4222)")
    .option("--peer <address>", "a peer Mac's gateway address (http://100.x.x.x:18789): the broker on that host (nats://100.x.x.x:4222)")
    .option("--alert <recipient>", "where peer-down alerts go (e.g. +15166334684 over iMessage)")
    .option("--capabilities <list>", "comma-separated capabilities of this machine (gpu,build)")
    .option("--tailscale-key <key>", "run `tailscale up --authkey … --hostname openclaw-<identity>` first")
    .option("--gateway <url>", "the local OpenClaw gateway", "http://127.0.0.1:18789")
    .option("--configure-gateway", "enable the gateway's hooks and A2A channel for the mesh (backup of openclaw.json first)")
    .option("--nats-context <name>", "also write a natscli context with this broker and credential (nats --context <name>)")
    .option("--no-start", "install the service file but do not start it")
    .option("--platform <os>", "darwin (launchd) or linux (systemd); default this machine's")
    .option("--dry-run", "print every step without doing it")
    .option("--a2a-host <host>", "also serve the sidecar's A2A server on this address (a tailnet IP), for A2A clients on other machines (opt-in; they need a token from sidecar.a2aClients)")
    .option("--a2a-port <port>", `port of that A2A listener (default ${DEFAULT_A2A_PORT})`, (v) => parsePort(v))
    .option("--leaf", "offline-first: run a leaf nats-server on this Mac, linked to the hub (README \"Offline-first Macs\")")
    .option("--mac <name>", "with --leaf: this Mac's name as the admin added it (default the identity)")
    .option("--hub <url>", "with --leaf: the hub's leafnode address (nats-leaf://<hub>:7422)")
    .option("--leaf-credential <file>", "with --leaf: the Mac's leaf credential (mesh broker add-mac)")
    .option("--leaf-port <port>", "with --leaf: the leaf server's client port on 127.0.0.1 (default 4223)", (v) => parsePort(v))
    .option("--leaf-monitor-port <port>", "with --leaf: the leaf server's monitoring port on 127.0.0.1 (default 8223)", (v) => parsePort(v))
    .option("--leaf-state-dir <dir>", "with --leaf: its config, store and log (default ~/.config/openclaw-mesh/leaf)")
    .addOption(jsonFlag("print the steps as JSON"))
    .addHelpText(
      "after",
      `
Safe to run again: what is already right is left alone (=). Global --identity, --creds and
--config apply.

Example (a new Mac):
  $ mesh init --identity nova --server nats://100.101.102.103:4222 --capabilities gpu,build \\
      --alert +15166334684 --configure-gateway --tailscale-key tskey-auth-…`,
    )
    .action(run(initCmd));
}

interface InitOpts extends GlobalOptions {
  server?: string;
  peer?: string;
  alert?: string;
  capabilities?: string;
  tailscaleKey?: string;
  gateway: string;
  configureGateway?: boolean;
  natsContext?: string;
  a2aHost?: string;
  a2aPort?: number;
  dryRun?: boolean;
  start: boolean;
  platform?: string;
  json?: boolean;
  /** Leaf mode: a leaf nats-server on this Mac, linked to the hub (README "Offline-first Macs"). */
  leaf?: boolean;
  mac?: string;
  hub?: string;
  leafCredential?: string;
  leafPort?: number;
  leafMonitorPort?: number;
  leafStateDir?: string;
}

const MARK: Record<Step["status"], string> = {
  created: "+",
  updated: "~",
  unchanged: "=",
  done: "✓",
  skipped: "-",
  warning: "!",
  failed: "✗",
  would: "?",
};

/**
 * `--peer http://100.x.x.x:18789` (a peer gateway's address, as the guide's bootstrap line has it)
 * means the broker on that host: nats://100.x.x.x:4222.
 */
export function brokerOfPeer(peer: string): string {
  let host: string;
  try {
    host = new URL(/^[a-z]+:\/\//i.test(peer) ? peer : `http://${peer}`).hostname;
  } catch {
    throw new MeshError(`--peer ${JSON.stringify(peer).slice(0, 60)} is not an address (e.g. http://100.101.102.103:18789)`);
  }
  if (!host) throw new MeshError(`--peer ${JSON.stringify(peer).slice(0, 60)} has no host`);
  return `nats://${host.includes(":") ? `[${host}]` : host}:4222`;
}

/** `--leaf` and its flags, each falling back to the config's `leaf` section, then the defaults. */
function leafOptions(opts: InitOpts, have: MeshConfig["leaf"]): LeafInitOptions {
  const hub = opts.hub ?? have?.hub;
  if (!hub) throw new MeshError(`mesh init --leaf needs --hub nats-leaf://<hub>:${DEFAULT_HUB_LEAF_PORT} (the hub's leafnode address)`);
  const credential = opts.leafCredential ?? have?.credential;
  if (!credential) throw new MeshError("mesh init --leaf needs --leaf-credential <file> (from the admin's `mesh broker add-mac <name> --identities …`)");
  return {
    mac: opts.mac ?? have?.mac ?? opts.identity!,
    hub,
    credentialFile: resolve(expandHome(credential)),
    port: opts.leafPort ?? have?.port ?? DEFAULT_LEAF_CLIENT_PORT,
    monitorPort: opts.leafMonitorPort ?? have?.monitorPort ?? DEFAULT_LEAF_MONITOR_PORT,
    stateDir: opts.leafStateDir ?? have?.stateDir ?? join(meshHome(), "leaf"),
  };
}

async function initCmd(opts: InitOpts): Promise<number> {
  const { init } = await import("../../src/ops/init.js");
  if (!opts.identity) throw new MeshError("mesh init needs --identity <name> (e.g. --identity nova)");
  const r = await configFor({ ...opts, config: undefined });
  if (opts.server && opts.peer) throw new MeshError("pass --server or --peer, not both (--peer http://<host>:18789 means the broker at nats://<host>:4222)");
  const steps = await init({
    identity: opts.identity,
    server: opts.server ?? (opts.peer ? brokerOfPeer(opts.peer) : r.server),
    ...(opts.creds ? { creds: opts.creds } : {}),
    ...(opts.alert ? { alert: opts.alert } : {}),
    capabilities: (opts.capabilities ?? "").split(",").map((c) => c.trim()).filter(Boolean),
    ...(opts.tailscaleKey ? { tailscaleKey: opts.tailscaleKey } : {}),
    gateway: opts.gateway,
    configureGateway: Boolean(opts.configureGateway),
    ...(opts.natsContext ? { natsContext: opts.natsContext } : {}),
    ...(opts.a2aHost ? { a2aHost: opts.a2aHost } : {}),
    ...(opts.a2aPort ? { a2aPort: opts.a2aPort } : {}),
    dryRun: Boolean(opts.dryRun),
    meshHome: meshHome(),
    configPath: opts.config ?? r.configPath,
    noStart: !opts.start,
    ...(opts.platform ? { platform: opts.platform as NodeJS.Platform } : {}),
    ...(opts.leaf ? { leaf: leafOptions(opts, r.config.leaf) } : {}),
  });
  if (opts.json) printJson(steps);
  else {
    for (const s of steps) process.stdout.write(`${MARK[s.status]} ${s.step.padEnd(18)} ${s.status === "would" ? "would: " : ""}${s.detail}\n`);
    process.stdout.write(
      "\nnote: OpenClaw's gateway.tailscale.mode takes off | serve | funnel (not \"on\"); to reach a gateway over the tailnet use gateway.bind: \"tailnet\". The mesh itself only needs the broker on the tailnet.\n",
    );
  }
  return steps.some((s) => s.status === "failed") ? 1 : 0;
}
