import { createUser } from "@nats-io/nkeys";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../src/config/config-file.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { fakeSystemctl } from "../support/service-tools.js";

/** A temporary HOME with an OpenClaw config and a fake `tailscale` that records its arguments. */
function machine(): { root: string; home: string; meshHome: string; bin: string; env: Record<string, string>; tailscaleArgs: () => string[] } {
  const root = mkdtempSync(join(tmpdir(), "mesh-init-"));
  const home = join(root, "home");
  const bin = join(root, "bin");
  mkdirSync(join(home, ".openclaw"), { recursive: true });
  mkdirSync(bin);
  writeFileSync(join(home, ".openclaw", "openclaw.json"), JSON.stringify({ gateway: { port: 18789, auth: { token: "gw-token-abc" } }, hooks: { enabled: false } }, null, 2));
  const log = join(root, "tailscale-args");
  writeFileSync(
    join(bin, "tailscale"),
    `#!/bin/sh\necho "$@" >> ${log}\ncase "$1" in\n  ip) echo 100.64.0.7 ;;\n  status) [ -f ${root}/ts-up ] && echo '{"BackendState":"Running"}' || echo '{"BackendState":"NeedsLogin"}' ;;\n  up) touch ${root}/ts-up ;;\nesac\n`,
  );
  chmodSync(join(bin, "tailscale"), 0o755);
  const meshHome = join(home, ".config", "openclaw-mesh");
  return {
    root,
    home,
    meshHome,
    bin,
    env: { HOME: home, MESH_HOME: meshHome, PATH: `${bin}:${process.env.PATH}` },
    tailscaleArgs: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []),
  };
}

const initArgs = (server: string, platform: string) => [
  "init", "--identity", "nova", "--server", server, "--capabilities", "gpu,build", "--alert", "+15166334684",
  "--tailscale-key", "tskey-auth-secret", "--configure-gateway", "--no-start", "--platform", platform,
];

describe("mesh init", () => {
  it("--dry-run prints every step and writes nothing", async () => {
    const m = machine();
    const r = await mesh([...initArgs("nats://127.0.0.1:1", "linux"), "--dry-run"], { env: m.env });
    expect(r.code, r.stderr).toBe(0);
    for (const step of ["gateway hooks", "mesh config", "broker", "gateway", "skill", "tailscale", "service"]) expect(r.stdout).toMatch(new RegExp(`^\\? ${step} +would`, "m"));
    expect(r.stdout).toContain("tailscale up --authkey *** --hostname openclaw-nova");
    expect(r.stdout).not.toContain("tskey-auth-secret");
    expect(existsSync(m.meshHome)).toBe(false);
    expect(m.tailscaleArgs().filter((a) => a.startsWith("up"))).toEqual([]);
    expect(JSON.parse(readFileSync(join(m.home, ".openclaw", "openclaw.json"), "utf8")).hooks.enabled).toBe(false);
  });

  it("--nats-context writes a natscli context (0600) with the broker and the credential, which mesh --context then reads", async () => {
    const m = machine();
    const creds = join(m.root, "nova.nk");
    writeFileSync(creds, `${new TextDecoder().decode(createUser().getSeed())}\n`, { mode: 0o600 });
    const r = await mesh([...initArgs("nats://127.0.0.1:1", "linux"), "--nats-context", "nova-mesh", "--creds", creds], { env: m.env });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const file = join(m.home, ".config", "nats", "context", "nova-mesh.json");
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ description: "openclaw-mesh identity nova", url: "nats://127.0.0.1:1", creds });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(r.stdout).toMatch(/^✓ nats context +.*nova-mesh\.json \(0600\)/m);
    // The CLI reads it back (no mesh config here): the broker it names, where nothing listens, is the one it tries.
    const send = await mesh(["send", "clawd", "hi", "--context", "nova-mesh", "--identity", "nova"], { env: { HOME: m.home, MESH_HOME: join(m.root, "no-mesh-home"), PATH: m.env.PATH ?? "" } });
    expect(send.code).toBe(1);
    expect(send.stderr).toMatch(/^mesh: cannot reach the broker at nats:\/\/127\.0\.0\.1:1 /);
  });

  it.each(["linux", "darwin"])("a real run (%s) writes a valid config, service and skill; re-running changes nothing", async (platform) => {
    const m = machine();
    const first = await mesh(initArgs("nats://127.0.0.1:1", platform), { env: m.env });
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const cfgPath = join(m.meshHome, "config.json");
    const cfg = loadConfigFile(cfgPath, true);
    expect(cfg).toMatchObject({ identity: "nova", capabilities: ["gpu", "build"], alerts: { channel: "imessage", to: "+15166334684" } });
    expect(statSync(cfgPath).mode & 0o777).toBe(0o600);
    expect(statSync(cfg.gateway!.hooksTokenFile!).mode & 0o777).toBe(0o600);
    const oc = JSON.parse(readFileSync(join(m.home, ".openclaw", "openclaw.json"), "utf8"));
    expect(oc.hooks).toMatchObject({ enabled: true, allowRequestSessionKey: true, allowedSessionKeyPrefixes: ["hook:", "mesh:"] });
    expect(readFileSync(cfg.gateway!.hooksTokenFile!, "utf8").trim()).toBe(oc.hooks.token);
    // The A2A channel is on (the sidecar then bridges through it and keeps channels.a2a.peers itself).
    expect(oc.channels.a2a).toMatchObject({ enabled: true, rateLimitPerMinute: 0, peers: {} });
    expect(existsSync(join(m.home, ".openclaw", "openclaw.json.mesh-backup"))).toBe(true);
    expect(existsSync(join(m.home, ".openclaw", "workspace", "skills", "mesh", "SKILL.md"))).toBe(true);
    expect(m.tailscaleArgs()).toContain("up --authkey tskey-auth-secret --hostname openclaw-nova");
    expect(first.stdout).toContain("tailscale ip       100.64.0.7");
    if (platform === "darwin") {
      const plist = join(m.home, "Library", "LaunchAgents", "ai.openclaw.mesh.sidecar.plist");
      const parsed = JSON.parse(
        execFileSync("python3", ["-c", "import plistlib,json,sys; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))", plist], { encoding: "utf8" }),
      );
      expect(parsed).toMatchObject({ Label: "ai.openclaw.mesh.sidecar", RunAtLoad: true, KeepAlive: true, EnvironmentVariables: { MESH_CONFIG: cfgPath } });
      expect(parsed.ProgramArguments.at(-1)).toBe("sidecar");
    } else {
      const unit = join(m.home, ".config", "systemd", "user", "openclaw-mesh.service");
      // The unit is verified by systemd itself; without systemd-analyze that check cannot run, which is a failure, not a skip.
      const hasAnalyze = spawnSync("sh", ["-c", "command -v systemd-analyze"]).status === 0;
      expect(hasAnalyze, "systemd-analyze is not installed: cannot verify the systemd unit `mesh init` writes (apt-get install systemd; .ci/run installs it)").toBe(true);
      const v = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
      expect(v.status, v.stderr).toBe(0);
      expect(readFileSync(unit, "utf8")).toMatch(/^ExecStart=\/\S+ --max-semi-space-size=1 \S+\/bin\/mesh\.js sidecar$/m);
    }
    const files = [cfgPath, cfg.gateway!.hooksTokenFile!, join(m.home, ".openclaw", "openclaw.json")];
    const before = files.map((f) => [readFileSync(f, "utf8"), statSync(f).mtimeMs]);
    const again = await mesh(initArgs("nats://127.0.0.1:1", platform), { env: m.env });
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/^[+~] /m);
    expect(again.stdout).toMatch(/^= tailscale +already up/m);
    expect(files.map((f) => [readFileSync(f, "utf8"), statSync(f).mtimeMs])).toEqual(before);
  });
});

describe("mesh doctor", () => {
  let bus: TestMesh;
  let broker: TestBroker;
  let hooks: HooksEndpoint;
  const m = machine();
  let env: Record<string, string>;

  beforeAll(async () => {
    bus = await startMesh({ provision: { identities: ["nova"] }, hooksToken: "the-right-hooks-token" });
    ({ broker, gateway: hooks } = bus);
    mkdirSync(m.meshHome, { recursive: true });
    writeFileSync(join(m.meshHome, "hooks-token"), "the-right-hooks-token\n", { mode: 0o600 });
    writeFileSync(join(m.meshHome, "wrong-token"), "a-wrong-hooks-token\n", { mode: 0o600 });
    writeFileSync(join(m.root, "ts-up"), "");
    const cfg = (server: string, tokenFile: string) =>
      JSON.stringify({ identity: "nova", server, gateway: { url: hooks.url, hooksTokenFile: join(m.meshHome, tokenFile) } });
    writeFileSync(join(m.meshHome, "config.json"), cfg(broker.url, "hooks-token"), { mode: 0o600 });
    writeFileSync(join(m.meshHome, "broken.json"), cfg("nats://127.0.0.1:1", "wrong-token"), { mode: 0o600 });
    // A service unit (verified by the real systemd-analyze), enabled and active as systemctl would say
    // (a container has no systemd user manager to ask: test/support/service-tools.ts).
    mkdirSync(join(m.home, ".config", "systemd", "user"), { recursive: true });
    writeFileSync(join(m.home, ".config", "systemd", "user", "openclaw-mesh.service"), "[Service]\nExecStart=/bin/true\n");
    fakeSystemctl(m.bin, { enabled: "enabled", active: "active" });
    await bus.sidecar("nova", { jobs: false });
    env = { ...m.env, MESH_CONFIG: join(m.meshHome, "config.json") };
  });

  afterAll(async () => {
    await bus?.stop();
  });

  it("a healthy setup passes every check", async () => {
    const r = await mesh(["doctor", "--json"], { env });
    const out = JSON.parse(r.stdout);
    expect(out.checks.filter((c: { status: string }) => c.status !== "ok"), r.stdout).toEqual([]);
    expect(out.checks.map((c: { name: string }) => c.name)).toEqual([
      "broker reachable", "jetstream", "provisioned", "permissions", "clock skew", "sidecar running",
      "gateway reachable", "hooks token", "bridge", "jobs", "tailscale", "sidecar service",
    ]);
    expect(out.checks.find((c: { name: string }) => c.name === "sidecar service").detail).toMatch(/^installed, verified, enabled and active: /);
    expect(r.code).toBe(0);
    expect(hooks.received).toHaveLength(0); // the token check starts no agent turn
  });

  it("broker down and a wrong hooks token: exactly those fail, each with a fix; --format nagios says CRITICAL (exit 2), and UNKNOWN (exit 3) when the config cannot be read", async () => {
    const r = await mesh(["doctor", "--json"], { env: { ...env, MESH_CONFIG: join(m.meshHome, "broken.json") } });
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    const failed = out.checks.filter((c: { status: string }) => c.status === "fail");
    expect(failed.map((c: { name: string }) => c.name)).toEqual(["broker reachable", "hooks token"]);
    for (const c of failed) expect(c.fix).toMatch(/\S/);
    const human = await mesh(["doctor"], { env: { ...env, MESH_CONFIG: join(m.meshHome, "broken.json") } });
    expect(human.stdout).toMatch(/✗ hooks token .*\(401\)\n.*fix: /);
    // For monitoring, as `nats server check`: CRITICAL, exit 2, naming both.
    const nagios = await mesh(["doctor", "--format", "nagios"], { env: { ...env, MESH_CONFIG: join(m.meshHome, "broken.json") } });
    expect(nagios.code).toBe(2);
    expect(nagios.stdout).toMatch(/^CRITICAL mesh doctor: broker reachable: .*; hooks token: .* \| ok=\d+ critical=2 skipped=\d+\n$/);
    const unknown = await mesh(["doctor", "--format", "nagios"], { env: { ...env, MESH_CONFIG: join(m.meshHome, "missing.json") } });
    expect(unknown.code).toBe(3);
    expect(unknown.stdout).toMatch(/^UNKNOWN mesh doctor: config .*missing\.json: cannot read it \(ENOENT\)\n$/);
  });
});
