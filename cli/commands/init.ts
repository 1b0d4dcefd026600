import { init, type Step } from "../../src/ops/init.js";
import { meshHome, type GlobalOptions } from "../../src/config/config.js";
import { MeshError } from "../../src/base/errors.js";
import { printJson, resolved } from "./common.js";

interface InitOpts extends GlobalOptions {
  server?: string;
  alert?: string;
  capabilities?: string;
  tailscaleKey?: string;
  gateway: string;
  configureGateway?: boolean;
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

export async function initCmd(opts: InitOpts): Promise<number> {
  if (!opts.identity) throw new MeshError("mesh init needs --identity <name> (e.g. --identity nova)");
  const r = await resolved({ ...opts, config: undefined });
  const steps = await init({
    identity: opts.identity,
    server: opts.server ?? r.server,
    ...(opts.creds ? { creds: opts.creds } : {}),
    ...(opts.alert ? { alert: opts.alert } : {}),
    capabilities: (opts.capabilities ?? "").split(",").map((c) => c.trim()).filter(Boolean),
    ...(opts.tailscaleKey ? { tailscaleKey: opts.tailscaleKey } : {}),
    gateway: opts.gateway,
    configureGateway: Boolean(opts.configureGateway),
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
