/**
 * Upgrade (README "Offline-first Macs", "Move a running mesh to leaf mode"): a single-broker mesh in
 * use moves to leaf mode with the commands the README gives: on the broker's Mac `mesh broker up --hub`
 * on the same state and `mesh broker add-mac` per Mac; on each Mac `mesh init --leaf`, then its leaf
 * server (the unit init wrote, run as systemd would) and its sidecar. Real nats-servers, the real CLI.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mesh } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { waitForPort } from "../../broker/local.js";
import { startHooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar, until } from "../support/sidecar.js";

const stops: Array<() => Promise<unknown> | void> = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

function runUnit(unitFile: string): ChildProcess {
  const exec = /^ExecStart=(.*)$/m.exec(readFileSync(unitFile, "utf8"))![1]!;
  const argv = exec.split(" ");
  const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
  stops.push(() => void child.kill("SIGKILL"));
  return child;
}

function killBroker(stateDir: string, signal: NodeJS.Signals): void {
  try {
    process.kill(Number(readFileSync(join(stateDir, "broker", "nats-server.pid"), "utf8")), signal);
  } catch {
    /* gone */
  }
}

describe("moving a running single-broker mesh to leaf mode", () => {
  it("mail delivered before the move is not delivered again, mail that waited on the broker during the move is delivered once after it, and a Mac not moved yet still reaches one that moved", async () => {
    const admin = { MESH_HOME: mkdtempSync(join(tmpdir(), "mesh-upg-hub-")), HOME: mkdtempSync(join(tmpdir(), "mesh-upg-hub-home-")) };
    const [hubPort, hubMon, leafPort] = [await freePort(), await freePort(), await freePort()];
    expect((await mesh(["broker", "init"], { env: admin })).code).toBe(0);
    for (const id of ["nova", "orion"]) expect((await mesh(["broker", "add-identity", id], { env: admin })).code).toBe(0);
    // Today's layout: one broker.
    const single = await mesh(["broker", "up", "--port", String(hubPort), "--monitor-port", String(hubMon), "--detach"], { env: admin });
    expect(single.code, single.stderr).toBe(0);
    stops.push(() => killBroker(admin.MESH_HOME, "SIGKILL"));
    const creds = (id: string) => join(admin.MESH_HOME, "broker", "creds", `${id}.nk`);
    const hubUrl = `nats://127.0.0.1:${hubPort}`;
    // nova stays on the single-broker layout throughout (a Mac not moved yet).
    const nova = { ...admin, MESH_SERVER: hubUrl, MESH_CREDS: creds("nova"), MESH_IDENTITY: "nova" };
    const hooks = await startHooksEndpoint();
    stops.push(() => hooks.close());
    const orionState = mkdtempSync(join(tmpdir(), "mesh-upg-orion-state-"));
    const turns = (tag: string): string[] => hooks.received.map((r) => /#([^#]+)#/.exec(r.body.message ?? "")?.[1] ?? "").filter((k) => k.startsWith(tag));

    // Before: orion's sidecar on the single broker delivers three messages.
    const before = await testSidecar({ identity: "orion", server: hubUrl, creds: creds("orion"), gatewayUrl: hooks.url, hooksToken: hooks.token, jobs: false, stateDir: orionState });
    for (let i = 0; i < 3; i++) {
      const sent = await mesh(["send", "orion", `#before-${i}# on the single broker`], { env: nova });
      expect(sent.code, sent.stderr).toBe(0);
    }
    await until("orion's gateway got the three", () => turns("before-").length === 3, 20_000);
    await before.stop("moving to leaf mode");

    // During: orion is moving; three messages wait in orion's inbox on the broker.
    for (let i = 0; i < 3; i++) expect((await mesh(["send", "orion", `#during-${i}# while orion moves`], { env: nova })).code).toBe(0);

    // The broker's Mac: the same broker, restarted as the hub (same state), and each Mac added.
    killBroker(admin.MESH_HOME, "SIGTERM");
    await until("the single broker stopped", async () => !(await fetch(`http://127.0.0.1:${hubMon}/healthz`).then(() => true, () => false)), 20_000);
    const hub = await mesh(["broker", "up", "--hub", "--port", String(hubPort), "--monitor-port", String(hubMon), "--leaf-port", String(leafPort), "--leaf-advertise", `127.0.0.1:${leafPort}`, "--detach"], { env: admin });
    expect(hub.code, hub.stderr).toBe(0);
    const hubEnv = { ...admin, MESH_SERVER: hubUrl, MESH_CREDS: join(admin.MESH_HOME, "broker", "admin.nk") };
    for (const [mac, ids] of [["orion", "orion"], ["nova", "nova"]] as const) {
      const added = await mesh(["broker", "add-mac", mac, "--identities", ids, "--hub-address", `nats-leaf://127.0.0.1:${leafPort}`], { env: hubEnv });
      expect(added.stderr).toBe("");
      expect(added.code).toBe(0);
    }

    // Orion's Mac: one command, then its leaf server and its sidecar (same state directory as before).
    const home = mkdtempSync(join(tmpdir(), "mesh-upg-orion-"));
    const env = { HOME: home, MESH_HOME: join(home, ".config", "openclaw-mesh") };
    const [port, mon] = [await freePort(), await freePort()];
    const init = await mesh(
      ["init", "--identity", "orion", "--creds", creds("orion"), "--leaf", "--mac", "orion", "--hub", `nats-leaf://127.0.0.1:${leafPort}`,
        "--leaf-credential", join(admin.MESH_HOME, "broker", "creds", "leaf-orion.leaf"), "--leaf-port", String(port), "--leaf-monitor-port", String(mon), "--no-start", "--platform", "linux"],
      { env },
    );
    expect(init.code, init.stderr).toBe(0);
    runUnit(join(home, ".config", "systemd", "user", "openclaw-mesh-leaf.service"));
    await waitForPort("127.0.0.1", port, 10_000);
    const cfg = JSON.parse(readFileSync(join(env.MESH_HOME, "config.json"), "utf8")) as { leaf: { mac: string; hub: string; credential: string; port: number; monitorPort: number; stateDir: string } };
    const after = await testSidecar({
      identity: "orion",
      server: `nats://127.0.0.1:${port}`,
      creds: creds("orion"),
      gatewayUrl: hooks.url,
      hooksToken: hooks.token,
      jobs: false,
      stateDir: orionState,
      leaf: cfg.leaf,
    });
    stops.push(() => after.stop("test done"));
    await until("the three that waited during the move", () => turns("during-").length >= 3, 30_000);

    // A Mac not moved yet (nova, still a direct client of the hub) reaches orion on its leaf.
    for (let i = 0; i < 2; i++) expect((await mesh(["send", "orion", `#after-${i}# from a Mac not moved yet`], { env: nova })).code).toBe(0);
    await until("the two sent after the move", () => turns("after-").length >= 2, 30_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(turns("before-")).toEqual(["before-0", "before-1", "before-2"]);
    expect(turns("during-")).toEqual(["during-0", "during-1", "during-2"]);
    expect(turns("after-")).toEqual(["after-0", "after-1"]);
  }, 180_000);
});
