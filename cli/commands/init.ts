import { init, type Step } from "../../src/ops/init.js";
import { meshHome, type GlobalOptions } from "../../src/config/config.js";
import { MeshError } from "../../src/base/errors.js";
import { printJson, resolved } from "./common.js";

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

export async function initCmd(opts: InitOpts): Promise<number> {
  if (!opts.identity) throw new MeshError("mesh init needs --identity <name> (e.g. --identity nova)");
  const r = await resolved({ ...opts, config: undefined });
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
