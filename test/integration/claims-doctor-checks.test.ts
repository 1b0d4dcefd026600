/**
 * README (Operations): `mesh doctor` — each failure is one line with its fix, exit 1. One test per
 * failure path, each against a real nats-server (or none) and the real CLI; the named check fails
 * and says what the test set up. (The service check: claims-doctor-service.test.ts; broker down and
 * a wrong hooks token: bootstrap.test.ts.)
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { findNatsServer, waitForPort } from "../../broker/local.js";
import { BUCKETS, STREAMS } from "../../subjects/names.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { until } from "../support/sidecar.js";

interface Check {
  name: string;
  status: "ok" | "fail" | "skip";
  detail: string;
  fix?: string;
}

let bus: TestMesh;
let broker: TestBroker;
let hooks: HooksEndpoint;

beforeAll(async () => {
  bus = await startMesh({ provision: { identities: ["nova"] }, hooksToken: "right-token" });
  ({ broker, gateway: hooks } = bus);
});

afterAll(async () => {
  await bus?.stop();
});

/** A temporary HOME with a mesh config (0600) and a PATH dir first for a tailscale stand-in. */
function machine(config: Record<string, unknown>) {
  const root = mkdtempSync(join(tmpdir(), "mesh-doctor-"));
  const home = join(root, "home");
  const bin = join(root, "bin");
  const meshHome = join(home, ".config", "openclaw-mesh");
  mkdirSync(meshHome, { recursive: true });
  mkdirSync(bin);
  const configPath = join(meshHome, "config.json");
  writeFileSync(configPath, JSON.stringify({ identity: "nova", ...config }), { mode: 0o600 });
  return { root, home, bin, meshHome, env: { HOME: home, MESH_HOME: meshHome, MESH_CONFIG: configPath, PATH: `${bin}:${process.env.PATH}` } };
}

const gateway = (token = "right-token") => ({ gateway: { url: hooks.url, hooksToken: token, bridge: "hooks" } });

async function doctor(env: Record<string, string>): Promise<{ code: number; checks: Check[]; human: string }> {
  const r = await mesh(["doctor", "--json", "--platform", "linux"], { env });
  const human = await mesh(["doctor", "--platform", "linux"], { env });
  return { code: r.code, checks: (JSON.parse(r.stdout) as { checks: Check[] }).checks, human: human.stdout };
}

/** The named check failed with one line of detail and a fix, printed as "✗ name  detail\n  fix: …". */
function failed(d: { code: number; checks: Check[]; human: string }, name: string): Check {
  const c = d.checks.find((x) => x.name === name);
  expect(c, JSON.stringify(d.checks)).toBeDefined();
  expect(c!.status, JSON.stringify(c)).toBe("fail");
  expect(c!.detail.split("\n")).toHaveLength(1);
  expect(c!.fix).toMatch(/\S/);
  // The human output (a second run: a detail with a time in it may differ by a second).
  const lines = d.human.split("\n");
  const at = lines.findIndex((l) => l.startsWith(`✗ ${name.padEnd(18)} `));
  expect(at, d.human).toBeGreaterThanOrEqual(0);
  expect(lines[at + 1]).toBe(`${" ".repeat(21)}fix: ${c!.fix}`);
  expect(d.code).toBe(1);
  return c!;
}

describe("mesh doctor failure paths", () => {
  it("credential file readable by others: 'credential file' fails naming it, fix chmod 600", async () => {
    const m = machine({ server: broker.url, ...gateway() });
    const creds = join(m.meshHome, "nova.creds");
    writeFileSync(creds, "-----BEGIN USER NKEY SEED-----\nSUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4\n------END USER NKEY SEED------\n");
    chmodSync(creds, 0o644);
    const c = failed(await doctor({ ...m.env, MESH_CREDS: creds }), "credential file");
    expect(c.detail).toContain(creds);
    expect(c.fix).toBe(`chmod 600 ${creds}`);
  });

  it("a nats-server without JetStream: 'jetstream' fails 'JetStream is off', fix: run it with -js; the stream checks are not run", async () => {
    const port = await freePort();
    const child = spawn(findNatsServer(), ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    try {
      await waitForPort("127.0.0.1", port, 10_000);
      const m = machine({ server: `nats://127.0.0.1:${port}`, ...gateway() });
      const d = await doctor(m.env);
      const c = failed(d, "jetstream");
      expect(c.detail).toBe("JetStream is off");
      expect(c.fix).toBe("run nats-server with JetStream (-js), e.g. `mesh broker up`");
      expect(d.checks.find((x) => x.name === "broker reachable")?.status).toBe("ok");
      expect(d.checks.map((x) => x.name)).not.toContain("provisioned");
    } finally {
      child.kill("SIGTERM");
      await until("nats-server exits", () => child.exitCode !== null || child.signalCode !== null, 10_000);
    }
  });

  it("a JetStream broker nothing was provisioned on: 'provisioned' fails listing every missing stream, bucket and the inbox consumer (HOOKS-nova only for a config with hook rules), fix mesh broker provision --for nova; permissions, clock and sidecar are skipped, not failed", async () => {
    const fresh = await startMesh({ provision: false });
    try {
      const names = (hooksToo: boolean) => [
        ...Object.values(STREAMS),
        ...Object.values(BUCKETS).map((b) => `KV_${b}`),
        ...["INBOX-nova", "DLQ-nova", ...(hooksToo ? ["HOOKS-nova"] : [])],
        "INBOX-nova/inbox-nova",
      ];
      const withRules = await doctor(machine({ server: fresh.broker.url, ...gateway(), hooks: [{ name: "deploys", on: "events.*.deploy", action: { type: "agent", message: "deployed" } }] }).env);
      expect(failed(withRules, "provisioned").detail).toBe(`missing: ${names(true).join(", ")}`);
      const m = machine({ server: fresh.broker.url, ...gateway() });
      const d = await doctor(m.env);
      const c = failed(d, "provisioned");
      expect(c.detail).toBe(`missing: ${names(false).join(", ")}`);
      expect(c.fix).toBe("mesh broker provision --for nova");
      for (const n of ["permissions", "clock skew", "sidecar running"]) {
        expect(d.checks.find((x) => x.name === n)).toEqual({ name: n, status: "skip", detail: "the broker is not provisioned (see above)" });
      }
      expect(d.checks.filter((x) => x.status === "fail").map((x) => x.name)).toEqual(["provisioned", "sidecar service"]); // no unit in this HOME
    } finally {
      await fresh.stop();
    }
  });

  it("no sidecar heartbeat: 'sidecar running' fails 'no heartbeat from nova', fix: start it", async () => {
    const m = machine({ server: broker.url, ...gateway() });
    const c = failed(await doctor(m.env), "sidecar running");
    expect(c.detail).toBe("no heartbeat from nova");
    expect(c.fix).toBe("start it: mesh sidecar (or the service: see `sidecar service` below)");
  });

  it("a heartbeat 40 s old (over the 15 s online limit): 'sidecar running' fails 'last heartbeat 40s ago'", async () => {
    const nc = await connectMesh({ server: broker.url });
    await provision(nc, { identities: ["stale-one"] });
    const kv = await new Kvm(nc).open(BUCKETS.presence);
    const lastSeen = new Date(Date.now() - 40_000).toISOString();
    await kv.put("stale-one", JSON.stringify({ identity: "stale-one", host: "h", version: "0.1.0", capabilities: [], gateway: "up", startedAt: lastSeen, lastSeen }));
    await nc.close();
    const m = machine({ server: broker.url, identity: "stale-one", ...gateway() });
    const c = failed(await doctor(m.env), "sidecar running");
    expect(c.detail).toMatch(/^last heartbeat 4\ds ago$/);
  });

  it("nothing listening at the gateway URL: 'gateway reachable' fails naming the URL, fix: start the gateway; the token check is skipped", async () => {
    const port = await freePort();
    const m = machine({ server: broker.url, gateway: { url: `http://127.0.0.1:${port}`, hooksToken: "right-token", bridge: "hooks" } });
    const d = await doctor(m.env);
    const c = failed(d, "gateway reachable");
    expect(c.detail).toBe(`no answer at http://127.0.0.1:${port}`);
    expect(c.fix).toBe("start the gateway: openclaw gateway");
    expect(d.checks.find((x) => x.name === "hooks token")).toEqual({ name: "hooks token", status: "skip", detail: "gateway unreachable" });
  });

  it("hooks not enabled on the gateway (its hooks path answers 404): 'hooks token' fails '(404)', fix: mesh init --configure-gateway", async () => {
    const m = machine({ server: broker.url, gateway: { url: hooks.url, hooksPath: "/not-hooks", hooksToken: "right-token", bridge: "hooks" } });
    const c = failed(await doctor(m.env), "hooks token");
    expect(c.detail).toBe("hooks are not enabled on the gateway (404)");
    expect(c.fix).toBe("mesh init --configure-gateway, then openclaw gateway restart");
  });

  it("which path jobs take: 'jobs' says through /hooks/agent (untrusted automation framing) with the hooks bridge, through the A2A channel with the A2A bridge", async () => {
    const viaHooks = await doctor(machine({ server: broker.url, gateway: { url: hooks.url, hooksToken: "right-token", bridge: "hooks" } }).env);
    const h = viaHooks.checks.find((x) => x.name === "jobs");
    expect(h, JSON.stringify(viaHooks.checks)).toMatchObject({ status: "ok", fix: "mesh init --configure-gateway enables the gateway's A2A channel" });
    expect(h!.detail).toMatch(/^jobs: through \/hooks\/agent \(untrusted automation framing/);
    const viaA2a = await doctor(machine({ server: broker.url, gateway: { url: hooks.url, hooksToken: "right-token", bridge: "a2a" } }).env);
    const a = viaA2a.checks.find((x) => x.name === "jobs");
    expect(a, JSON.stringify(viaA2a.checks)).toMatchObject({ status: "ok" });
    expect(a!.detail).toMatch(/^jobs: through the A2A channel \(work from a named peer/);
    expect(viaA2a.human).toContain("jobs: through the A2A channel (work from a named peer");
  });

  it("no hooks token anywhere (no config token, no ~/.openclaw): 'hooks token' fails with the config hint; gateway skipped", async () => {
    const m = machine({ server: broker.url, gateway: { url: hooks.url, bridge: "hooks" } });
    const d = await doctor(m.env);
    const c = failed(d, "hooks token");
    expect(c.detail).toBe("no hooks token for the local gateway: set gateway.hooksTokenFile in the config (or MESH_HOOKS_TOKEN); it is the gateway's hooks.token");
    expect(c.fix).toBe("mesh init --configure-gateway (or set gateway.hooksTokenFile)");
    expect(d.checks.find((x) => x.name === "gateway reachable")).toEqual({ name: "gateway reachable", status: "skip", detail: "no gateway configured" });
  });

  it("tailscale installed but logged out (stand-in `tailscale status --json` says NeedsLogin): 'tailscale' fails 'state NeedsLogin', fix tailscale up", async () => {
    const m = machine({ server: broker.url, ...gateway() });
    writeFileSync(join(m.bin, "tailscale"), `#!/bin/sh\n[ "$1" = status ] && echo '{"BackendState":"NeedsLogin"}'\n`);
    chmodSync(join(m.bin, "tailscale"), 0o755);
    const c = failed(await doctor(m.env), "tailscale");
    expect(c.detail).toBe("state NeedsLogin");
    expect(c.fix).toBe("tailscale up (or mesh init --tailscale-key …)");
  });

  it("nothing listening at the broker URL: 'broker reachable' fails 'cannot reach the broker', fix: start it", async () => {
    const m = machine({ server: `nats://127.0.0.1:${await freePort()}`, ...gateway() });
    const c = failed(await doctor(m.env), "broker reachable");
    expect(c.detail).toMatch(/^cannot reach the broker at nats:\/\/127\.0\.0\.1:\d+ /);
    expect(c.fix).toBe("start it (`mesh up` or `mesh broker up`) or fix --server / MESH_SERVER");
  });
});

describe("mesh doctor against a broker that requires credentials (mesh broker init)", () => {
  let home: string;
  let server: string;
  let env: Record<string, string>;
  const creds = (id: string) => join(home, "broker", "creds", `${id}.nk`);

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "mesh-doctor-auth-"));
    const port = await freePort();
    server = `nats://127.0.0.1:${port}`;
    env = { MESH_HOME: home, MESH_SERVER: server };
    expect((await mesh(["broker", "init"], { env })).code).toBe(0);
    const up = await mesh(["broker", "up", "--port", String(port), "--monitor-port", String(await freePort()), "--detach"], { env });
    expect(up.code, up.stderr).toBe(0);
    for (const id of ["nova", "clawd", "lyra"]) expect((await mesh(["broker", "add-identity", id], { env })).code).toBe(0);
    expect((await mesh(["broker", "revoke", "lyra"], { env })).code).toBe(0);
  });

  afterAll(() => {
    try {
      process.kill(Number(readFileSync(join(home, "broker", "nats-server.pid"), "utf8")), "SIGTERM");
    } catch {
      /* gone */
    }
  });

  it("a revoked identity's credential: 'broker reachable' fails with the server's 'Authorization Violation', fix: ask the admin for a new credential", async () => {
    const m = machine({ identity: "lyra", server, creds: creds("lyra"), ...gateway() });
    const c = failed(await doctor(m.env), "broker reachable");
    expect(c.detail).toBe(`broker at ${server} refused the credentials: Authorization Violation`);
    expect(c.fix).toBe("ask the broker admin for a new credential: mesh broker add-identity <id>");
  });

  it("another identity's credential (clawd's, running as nova): 'broker reachable' fails naming both, fix: the credential or identity", async () => {
    const m = machine({ identity: "nova", server, creds: creds("clawd"), ...gateway() });
    const c = failed(await doctor(m.env), "broker reachable");
    expect(c.detail).toBe(`credentials ${creds("clawd")} belong to clawd, but this runs as nova: pass --identity clawd (or set identity in the config)`);
    expect(c.fix).toBe("fix the credential or identity named above (--creds, --identity, or the config)");
  });

  it("its own credential: broker, JetStream, provisioning, permissions, clock all pass (the sidecar is not running: that alone fails among the broker checks)", async () => {
    const m = machine({ identity: "nova", server, creds: creds("nova"), ...gateway() });
    const d = await doctor(m.env);
    const broker = ["broker reachable", "jetstream", "provisioned", "permissions", "clock skew"];
    expect(d.checks.filter((x) => broker.includes(x.name)).map((x) => [x.name, x.status])).toEqual(broker.map((n) => [n, "ok"]));
    expect(d.checks.find((x) => x.name === "sidecar running")?.status).toBe("fail");
  });
});

