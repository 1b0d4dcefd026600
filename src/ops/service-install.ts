import { spawnSync } from "node:child_process";
import { renderLaunchdPlist, renderSystemdUnit, servicePath, LEAF_SERVICE_LABEL, LEAF_SYSTEMD_UNIT, SERVICE_LABEL, SYSTEMD_UNIT, type ServiceSpec } from "./service.js";
import type { Step, StepStatus } from "./steps.js";

/** Writes a service file (launchd plist or systemd user unit) and starts it when it changed. */
export function installService(o: {
  platform: NodeJS.Platform;
  home: string;
  spec: ServiceSpec;
  dryRun: boolean;
  noStart: boolean;
  write: (path: string, content: string, mode: number, dryRun: boolean) => StepStatus;
  has: (cmd: string) => boolean;
}): Step[] {
  const kind = o.spec.kind ?? "sidecar";
  const steps: Step[] = [];
  const label = kind === "leaf" ? LEAF_SERVICE_LABEL : SERVICE_LABEL;
  const unit = kind === "leaf" ? LEAF_SYSTEMD_UNIT : SYSTEMD_UNIT;
  const name = kind === "leaf" ? "leaf service" : "service";
  const svcPath = servicePath(o.platform, o.home, kind);
  const content = o.platform === "darwin" ? renderLaunchdPlist(o.spec) : renderSystemdUnit(o.spec);
  const svc = o.write(svcPath, content, 0o644, o.dryRun);
  steps.push({ step: name, status: svc, detail: svcPath });
  if (o.dryRun || o.noStart || svc === "unchanged") return steps;
  const [bin, args] =
    o.platform === "darwin" ? ["launchctl", ["bootstrap", `gui/${process.getuid?.() ?? 501}`, svcPath]] : ["systemctl", ["--user", "enable", "--now", unit]];
  if (!o.has(bin)) {
    steps.push({ step: `${name} start`, status: "skipped", detail: `${bin} not found; start it with \`${kind === "leaf" ? o.spec.argv.join(" ") : "mesh sidecar"}\`` });
    return steps;
  }
  if (o.platform !== "darwin") spawnSync("systemctl", ["--user", "daemon-reload"], { stdio: "ignore" });
  const r = spawnSync(bin, args as string[], { encoding: "utf8", timeout: 30_000 });
  steps.push({
    step: `${name} start`,
    status: r.status === 0 ? "done" : "warning",
    detail: r.status === 0 ? `${o.platform === "darwin" ? label : unit} started` : `${bin} ${(args as string[]).join(" ")}: ${(r.stderr || r.stdout).trim().split("\n")[0]}`,
  });
  return steps;
}
