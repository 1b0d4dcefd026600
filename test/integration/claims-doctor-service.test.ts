/**
 * README (Operations): `mesh doctor` checks that the sidecar's service is installed — verified by
 * systemd itself (`systemd-analyze verify`) or `plutil -lint`, and enabled/running as systemctl or
 * launchctl report it — with a one-line fix per failure. Runs the real CLI against a temporary HOME;
 * `systemd-analyze` is always the real one (rule 3: missing, the test fails saying so).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mesh } from "../support/cli.js";
import { fakeLaunchctl, fakeSystemctl, plutilStandIn } from "../support/service-tools.js";

interface Check {
  name: string;
  status: string;
  detail: string;
  fix?: string;
}

const UNIT = "openclaw-mesh.service";
const LABEL = "ai.openclaw.mesh.sidecar";

/** A temporary HOME with an empty PATH dir first (for stand-ins) and no broker, no gateway. */
function machine(): { home: string; bin: string; env: Record<string, string>; unit: string; plist: string } {
  const root = mkdtempSync(join(tmpdir(), "mesh-doctor-svc-"));
  const home = join(root, "home");
  const bin = join(root, "bin");
  mkdirSync(home, { recursive: true });
  mkdirSync(bin);
  return {
    home,
    bin,
    env: { HOME: home, MESH_HOME: join(home, ".config", "openclaw-mesh"), PATH: `${bin}:${process.env.PATH}`, MESH_SERVER: "nats://127.0.0.1:1", MESH_IDENTITY: "nova" },
    unit: join(home, ".config", "systemd", "user", UNIT),
    plist: join(home, "Library", "LaunchAgents", `${LABEL}.plist`),
  };
}

async function serviceCheck(env: Record<string, string>, platform: string): Promise<{ check: Check; code: number; human: string }> {
  const r = await mesh(["doctor", "--json", "--platform", platform], { env });
  const checks = (JSON.parse(r.stdout) as { checks: Check[] }).checks;
  const check = checks.find((c) => c.name === "sidecar service");
  expect(check, r.stdout).toBeDefined();
  const human = await mesh(["doctor", "--platform", platform], { env });
  return { check: check!, code: r.code, human: human.stdout };
}

async function init(m: ReturnType<typeof machine>, platform: string): Promise<void> {
  const r = await mesh(["init", "--identity", "nova", "--server", "nats://127.0.0.1:1", "--no-start", "--platform", platform], { env: m.env });
  expect(r.code, r.stderr + r.stdout).toBe(0);
}

describe("mesh doctor: the sidecar service on Linux (systemd)", () => {
  it("systemd-analyze is installed (the unit checks below need it)", () => {
    const r = spawnSync("sh", ["-c", "command -v systemd-analyze"]);
    expect(r.status, "systemd-analyze is not installed: the doctor's unit verification cannot be tested (apt-get install systemd; .ci/run installs it)").toBe(0);
  });

  it("the unit `mesh init` writes passes systemd-analyze verify; enabled and active per systemctl, the check is ok", async () => {
    const m = machine();
    await init(m, "linux");
    fakeSystemctl(m.bin, { enabled: "enabled", active: "active" });
    const { check } = await serviceCheck(m.env, "linux");
    expect(check).toEqual({ name: "sidecar service", status: "ok", detail: `installed, verified, enabled and active: ${m.unit}` });
  });

  it("a malformed unit fails with systemd-analyze's own error line (file:line: reason) and a fix; exit 1", async () => {
    const m = machine();
    await init(m, "linux");
    fakeSystemctl(m.bin, { enabled: "enabled", active: "active" });
    writeFileSync(m.unit, "[Unit]\nDescription=broken\n\n[Service]\nExecStart=relative/mesh sidecar\n");
    // What systemd itself says about this file.
    const own = spawnSync("systemd-analyze", ["verify", m.unit], { encoding: "utf8" });
    expect(own.status).not.toBe(0);
    const line = `${own.stderr}\n${own.stdout}`.split("\n").map((l) => l.trim()).find((l) => l.includes(m.unit));
    expect(line).toBe(`${m.unit}:5: Neither a valid executable name nor an absolute path: relative/mesh`);
    const { check, code, human } = await serviceCheck(m.env, "linux");
    expect(check.status).toBe("fail");
    expect(check.detail).toBe(`systemd-analyze verify: ${line}`);
    expect(check.fix).toBe("fix the line named, or rewrite the unit: mesh init … (it writes openclaw-mesh.service)");
    expect(code).toBe(1);
    expect(human).toContain(`✗ sidecar service    systemd-analyze verify: ${line}\n${" ".repeat(21)}fix: ${check.fix}\n`);
  });

  it("no unit file: fails 'not installed' naming the path, fix mesh init", async () => {
    const m = machine();
    const { check, code } = await serviceCheck(m.env, "linux");
    expect(check).toEqual({ name: "sidecar service", status: "fail", detail: `not installed (${m.unit})`, fix: "mesh init … (installs it), or run `mesh sidecar` yourself" });
    expect(code).toBe(1);
  });

  it("a valid unit that is not enabled (the real systemctl --user is-enabled says disabled): fails, fix enable --now", async () => {
    const m = machine();
    await init(m, "linux");
    // The real systemctl reads the user unit files without a running user manager.
    const real = spawnSync("systemctl", ["--user", "is-enabled", UNIT], { encoding: "utf8", env: { ...process.env, HOME: m.home } });
    expect(real.stdout.trim()).toBe("disabled");
    const { check } = await serviceCheck(m.env, "linux");
    expect(check).toEqual({
      name: "sidecar service",
      status: "fail",
      detail: `${m.unit} verifies but is not enabled (systemctl --user is-enabled: disabled)`,
      fix: `systemctl --user daemon-reload && systemctl --user enable --now ${UNIT}`,
    });
  });

  it("enabled but failed (systemctl is-active: failed): fails naming the state, fix restart + journalctl", async () => {
    const m = machine();
    await init(m, "linux");
    fakeSystemctl(m.bin, { enabled: "enabled", active: "failed" });
    const { check } = await serviceCheck(m.env, "linux");
    expect(check).toEqual({
      name: "sidecar service",
      status: "fail",
      detail: `${m.unit} is enabled but failed`,
      fix: `systemctl --user restart ${UNIT}; why it stopped: journalctl --user -u ${UNIT} -n 50`,
    });
  });

  it("without systemd-analyze on PATH: fails 'cannot verify' (never passes an unverified unit)", async () => {
    const m = machine();
    await init(m, "linux");
    // PATH holds only a directory with sh (for the tailscale probe) and no systemd tools.
    const onlySh = join(m.bin, "..", "only-sh");
    mkdirSync(onlySh);
    symlinkSync(spawnSync("sh", ["-c", "command -v sh"], { encoding: "utf8" }).stdout.trim(), join(onlySh, "sh"));
    const { check } = await serviceCheck({ ...m.env, PATH: onlySh }, "linux");
    expect(check.status).toBe("fail");
    expect(check.detail).toBe(`cannot verify ${m.unit}: systemd-analyze not found (no systemd on this machine?)`);
    expect(check.fix).toMatch(/^install systemd/);
  });
});

describe("mesh doctor: the sidecar service on macOS (launchd), plutil and launchctl stood in for", () => {
  it("the plist `mesh init` writes lints OK; loaded and running: ok with the pid", async () => {
    const m = machine();
    await init(m, "darwin");
    plutilStandIn(m.bin);
    fakeLaunchctl(m.bin, { loaded: true, state: "running", pid: 4242 });
    const { check } = await serviceCheck(m.env, "darwin");
    expect(check).toEqual({ name: "sidecar service", status: "ok", detail: `installed, lint OK, loaded and running (pid 4242): ${m.plist}` });
  });

  it("a malformed plist fails with the linter's own error line and a fix", async () => {
    const m = machine();
    await init(m, "darwin");
    plutilStandIn(m.bin);
    fakeLaunchctl(m.bin, { loaded: true, state: "running", pid: 1 });
    writeFileSync(m.plist, "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Label</key></plist>");
    const lint = spawnSync(join(m.bin, "plutil"), ["-lint", m.plist], { encoding: "utf8" });
    expect(lint.status).toBe(1);
    const { check } = await serviceCheck(m.env, "darwin");
    expect(check.status).toBe("fail");
    expect(check.detail).toBe(`plutil -lint: ${lint.stdout.trim()}`);
    expect(check.detail.startsWith(`plutil -lint: ${m.plist}: `)).toBe(true);
    expect(check.fix).toBe(`rewrite it: mesh init … (it writes ${LABEL}.plist)`);
  });

  it("a valid plist launchd has not loaded: fails with launchctl's message, fix launchctl bootstrap", async () => {
    const m = machine();
    await init(m, "darwin");
    plutilStandIn(m.bin);
    fakeLaunchctl(m.bin, { loaded: false });
    const { check } = await serviceCheck(m.env, "darwin");
    const uid = process.getuid!();
    expect(check).toEqual({
      name: "sidecar service",
      status: "fail",
      detail: `${m.plist} is valid but not loaded (launchctl print gui/${uid}/${LABEL}: Could not find service "${LABEL}" in domain for port)`,
      fix: `launchctl bootstrap gui/${uid} ${m.plist}`,
    });
  });

  it("loaded but not running (its own state line, not a nested block's): fails, fix launchctl kickstart", async () => {
    const m = machine();
    await init(m, "darwin");
    plutilStandIn(m.bin);
    fakeLaunchctl(m.bin, { loaded: true, state: "not running" });
    const { check } = await serviceCheck(m.env, "darwin");
    const uid = process.getuid!();
    expect(check).toEqual({
      name: "sidecar service",
      status: "fail",
      detail: `${LABEL} is loaded but not running`,
      fix: `launchctl kickstart -k gui/${uid}/${LABEL}; why it stopped: the sidecar.log next to the config`,
    });
  });
});
