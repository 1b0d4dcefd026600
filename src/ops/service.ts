import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * Node flags of the sidecar service: a 1 MiB young generation (semi-space) instead of V8's 16 MiB.
 * A sidecar keeps little per message, so its scavenges stay short, and its resident set shrinks by
 * about that much: the difference between ~1.45× and ~1.3× a bare nats.js process (BENCHMARKS.md, scale).
 */
export const SIDECAR_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1"];

/** How the sidecar runs as a service: a launchd LaunchAgent on macOS, a systemd user unit on Linux. */
export const SERVICE_LABEL = "ai.openclaw.mesh.sidecar";
export const SYSTEMD_UNIT = "openclaw-mesh.service";

/** Leaf mode: the Mac's leaf nats-server, a service of its own next to the sidecar's. */
export const LEAF_SERVICE_LABEL = "ai.openclaw.mesh.leaf";
export const LEAF_SYSTEMD_UNIT = "openclaw-mesh-leaf.service";

export interface ServiceSpec {
  /** Absolute program and arguments, e.g. [node, /…/dist/bin/mesh.js, "sidecar"]. */
  argv: string[];
  env: Record<string, string>;
  logDir: string;
  /** Which service (default the sidecar). */
  kind?: "sidecar" | "leaf";
}

const NAMES = {
  sidecar: { label: SERVICE_LABEL, unit: SYSTEMD_UNIT, log: "sidecar", description: "openclaw-mesh sidecar (inbox, asks, events, presence, jobs)" },
  leaf: { label: LEAF_SERVICE_LABEL, unit: LEAF_SYSTEMD_UNIT, log: "leaf-server", description: "openclaw-mesh leaf nats-server of this Mac (offline-first: outbox and inboxes)" },
} as const;

export function servicePath(platform: NodeJS.Platform, home = homedir(), kind: "sidecar" | "leaf" = "sidecar"): string {
  return platform === "darwin"
    ? join(home, "Library", "LaunchAgents", `${NAMES[kind].label}.plist`)
    : join(home, ".config", "systemd", "user", NAMES[kind].unit);
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function renderLaunchdPlist(s: ServiceSpec): string {
  const n = NAMES[s.kind ?? "sidecar"];
  const args = s.argv.map((a) => `    <string>${xml(a)}</string>`).join("\n");
  const env = Object.entries(s.env)
    .map(([k, v]) => `    <key>${xml(k)}</key>\n    <string>${xml(v)}</string>`)
    .join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${n.label}</string>
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
  <string>${xml(join(s.logDir, `${n.log}.out.log`))}</string>
  <key>StandardErrorPath</key>
  <string>${xml(join(s.logDir, `${n.log}.log`))}</string>
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
    `Description=${NAMES[s.kind ?? "sidecar"].description}`,
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

/** What `mesh doctor` says about the installed service. */
export interface ServiceCheck {
  status: "ok" | "fail";
  detail: string;
  fix?: string;
}

interface Ran {
  /** null when the program is not installed (or did not run). */
  code: number | null;
  out: string;
  missing: boolean;
}

function runTool(bin: string, args: string[]): Ran {
  const r = spawnSync(bin, args, { encoding: "utf8", timeout: 20_000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
  return { code: r.status, out: `${r.stderr ?? ""}\n${r.stdout ?? ""}`.trim(), missing };
}

/** The first line of a tool's output that names a problem (or its first line). */
function firstLine(out: string, prefer?: string): string {
  const lines = out.split("\n").map((l) => l.trim()).filter(Boolean);
  return (prefer ? lines.find((l) => l.includes(prefer)) : undefined) ?? lines[0] ?? "(no output)";
}

/**
 * Is the sidecar's service installed, valid and running? Linux: the unit verified by
 * `systemd-analyze verify`, then `systemctl --user is-enabled` / `is-active`. macOS: the plist
 * checked by `plutil -lint`, then `launchctl print gui/<uid>/<label>`. Each failure is one line
 * with the next step.
 */
export function checkService(platform: NodeJS.Platform, file = servicePath(platform)): ServiceCheck {
  if (!existsSync(file)) return { status: "fail", detail: `not installed (${file})`, fix: "mesh init … (installs it), or run `mesh sidecar` yourself" };
  return platform === "darwin" ? checkLaunchd(file) : checkSystemd(file);
}

function checkSystemd(unit: string): ServiceCheck {
  const rewrite = `fix the line named, or rewrite the unit: mesh init … (it writes ${SYSTEMD_UNIT})`;
  const v = runTool("systemd-analyze", ["verify", unit]);
  if (v.missing) {
    return { status: "fail", detail: `cannot verify ${unit}: systemd-analyze not found (no systemd on this machine?)`, fix: "install systemd (apt-get install systemd), or run `mesh sidecar` under your own supervisor and remove the unit" };
  }
  // systemd-analyze names the file and line of each problem ("<unit>:4: Neither a valid executable name …").
  if (v.code !== 0) return { status: "fail", detail: `systemd-analyze verify: ${firstLine(v.out, unit)}`, fix: rewrite };
  const enabled = runTool("systemctl", ["--user", "is-enabled", SYSTEMD_UNIT]);
  if (enabled.missing) return { status: "fail", detail: `${unit} verifies, but systemctl is not found`, fix: "run `mesh sidecar` under your own supervisor" };
  const en = firstLine(enabled.out);
  if (enabled.code !== 0 || en !== "enabled") {
    return { status: "fail", detail: `${unit} verifies but is not enabled (systemctl --user is-enabled: ${en})`, fix: `systemctl --user daemon-reload && systemctl --user enable --now ${SYSTEMD_UNIT}` };
  }
  const active = runTool("systemctl", ["--user", "is-active", SYSTEMD_UNIT]);
  const st = firstLine(active.out);
  // is-active prints the state on stdout; a message on stderr alone means it could not ask the user manager.
  const known = ["active", "inactive", "failed", "activating", "deactivating", "reloading"].includes(st);
  if (!known) return { status: "ok", detail: `installed, verified and enabled: ${unit}; running state unknown (systemctl --user is-active: ${st})` };
  if (st !== "active") {
    return { status: "fail", detail: `${unit} is enabled but ${st}`, fix: `systemctl --user restart ${SYSTEMD_UNIT}; why it stopped: journalctl --user -u ${SYSTEMD_UNIT} -n 50` };
  }
  return { status: "ok", detail: `installed, verified, enabled and active: ${unit}` };
}

function checkLaunchd(plist: string): ServiceCheck {
  const lint = runTool("plutil", ["-lint", plist]);
  if (lint.missing) return { status: "fail", detail: `cannot check ${plist}: plutil not found`, fix: "run mesh doctor on the Mac itself (plutil ships with macOS)" };
  if (lint.code !== 0) return { status: "fail", detail: `plutil -lint: ${firstLine(lint.out, plist)}`, fix: `rewrite it: mesh init … (it writes ${SERVICE_LABEL}.plist)` };
  const target = `gui/${process.getuid?.() ?? 501}/${SERVICE_LABEL}`;
  const print = runTool("launchctl", ["print", target]);
  if (print.missing) return { status: "fail", detail: `${plist} is valid, but launchctl is not found`, fix: "run mesh doctor on the Mac itself" };
  if (print.code !== 0) {
    return { status: "fail", detail: `${plist} is valid but not loaded (launchctl print ${target}: ${firstLine(print.out)})`, fix: `launchctl bootstrap gui/${process.getuid?.() ?? 501} ${plist}` };
  }
  // `launchctl print` lists the service's properties, one "key = value" per line.
  // The service's own come first; nested blocks (endpoints, jobs) may repeat a key, so the first one wins.
  const props = new Map<string, string>();
  for (const l of print.out.split("\n")) {
    const i = l.indexOf(" = ");
    const key = i > 0 ? l.slice(0, i).trim() : "";
    if (key && !props.has(key)) props.set(key, l.slice(i + 3).trim());
  }
  const state = props.get("state") ?? "unknown";
  if (state !== "running") {
    return { status: "fail", detail: `${SERVICE_LABEL} is loaded but ${state}`, fix: `launchctl kickstart -k ${target}; why it stopped: the sidecar.log next to the config` };
  }
  return { status: "ok", detail: `installed, lint OK, loaded and running${props.has("pid") ? ` (pid ${props.get("pid")})` : ""}: ${plist}` };
}
