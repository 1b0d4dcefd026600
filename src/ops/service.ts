import { homedir } from "node:os";
import { join } from "node:path";

/** How the sidecar runs as a service: a launchd LaunchAgent on macOS, a systemd user unit on Linux. */
export const SERVICE_LABEL = "ai.openclaw.mesh.sidecar";
export const SYSTEMD_UNIT = "openclaw-mesh.service";

export interface ServiceSpec {
  /** Absolute program and arguments, e.g. [node, /…/dist/cli/main.js, "sidecar"]. */
  argv: string[];
  env: Record<string, string>;
  logDir: string;
}

export function servicePath(platform: NodeJS.Platform, home = homedir()): string {
  return platform === "darwin"
    ? join(home, "Library", "LaunchAgents", `${SERVICE_LABEL}.plist`)
    : join(home, ".config", "systemd", "user", SYSTEMD_UNIT);
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function renderLaunchdPlist(s: ServiceSpec): string {
  const args = s.argv.map((a) => `    <string>${xml(a)}</string>`).join("\n");
  const env = Object.entries(s.env)
    .map(([k, v]) => `    <key>${xml(k)}</key>\n    <string>${xml(v)}</string>`)
    .join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${SERVICE_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
${env}
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ThrottleInterval</key>
  <integer>10</integer>
  <key>StandardOutPath</key>
  <string>${xml(join(s.logDir, "sidecar.out.log"))}</string>
  <key>StandardErrorPath</key>
  <string>${xml(join(s.logDir, "sidecar.log"))}</string>
</dict>
</plist>
`;
}

function systemdQuote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `"${a.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

export function renderSystemdUnit(s: ServiceSpec): string {
  const env = Object.entries(s.env).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`);
  return [
    "[Unit]",
    "Description=openclaw-mesh sidecar (inbox, asks, events, presence, jobs)",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${s.argv.map(systemdQuote).join(" ")}`,
    ...env,
    "Restart=always",
    "RestartSec=5",
    "KillSignal=SIGTERM",
    "TimeoutStopSec=20",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}
