/**
 * Leaf mode set up the way a user does it, with the built CLI: the admin's `mesh broker init`,
 * `add-identity`, `add-mac` and `broker up --hub`; on each "Mac", `mesh init --leaf` writes the leaf
 * server's config and service, the service's own command line is run, and `mesh send` works from
 * there, offline too. Two Macs on one machine: every port is a flag.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { MESH_BIN, mesh } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { waitForPort } from "../../broker/local.js";
import { connectMesh } from "../../src/bus/connection.js";
import { until } from "../support/sidecar.js";

const stops: Array<() => void> = [];
afterAll(() => {
  for (const s of stops.reverse()) s();
});

/** The ExecStart line of a systemd unit `mesh init` wrote, run as the service manager would. */
function runUnit(unitFile: string): ChildProcess {
  const exec = /^ExecStart=(.*)$/m.exec(readFileSync(unitFile, "utf8"))![1]!;
  const argv = exec.split(" ");
  const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
  stops.push(() => child.kill("SIGKILL"));
  return child;
}

describe("leaf mode from the CLI", () => {
  it("admin: broker init, add-identity ×3, add-mac ×2, broker up --hub; each Mac: mesh init --leaf writes its leaf server config (0600) and a systemd unit; mail crosses Macs through the hub; `mesh peers`, `mesh top`, `mesh doctor` and `mesh web` show the link up; with the hub away `mesh send` is queued on the Mac (saying how many wait), `mesh ask`, `mesh job submit` and `mesh peers` exit 3 at once saying why, and top, doctor and the web view show the link down", async () => {
    const admin = { MESH_HOME: mkdtempSync(join(tmpdir(), "mesh-hub-")), HOME: mkdtempSync(join(tmpdir(), "mesh-hub-home-")) };
    const [hubPort, hubMon, leafPort] = [await freePort(), await freePort(), await freePort()];
    expect((await mesh(["broker", "init"], { env: admin })).code).toBe(0);
    for (const id of ["nova", "nova2", "orion"]) expect((await mesh(["broker", "add-identity", id], { env: admin })).code).toBe(0);
    const up = await mesh(["broker", "up", "--hub", "--port", String(hubPort), "--monitor-port", String(hubMon), "--leaf-port", String(leafPort), "--leaf-advertise", `127.0.0.1:${leafPort}`, "--detach"], { env: admin });
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    stops.push(() => {
      try {
        process.kill(Number(readFileSync(join(admin.MESH_HOME, "broker", "nats-server.pid"), "utf8")), "SIGKILL");
      } catch {
        /* gone */
      }
    });
    const adminCreds = join(admin.MESH_HOME, "broker", "admin.nk");
    const hubEnv = { ...admin, MESH_SERVER: `nats://127.0.0.1:${hubPort}`, MESH_CREDS: adminCreds };
    const addNova = await mesh(["broker", "add-mac", "nova", "--identities", "nova,nova2", "--hub-address", `nats-leaf://127.0.0.1:${leafPort}`], { env: hubEnv });
    expect(addNova.stderr).toBe("");
    expect(addNova.stdout).toContain("added Mac nova hosting nova, nova2");
    expect((await mesh(["broker", "add-mac", "orion", "--identities", "orion"], { env: hubEnv })).code).toBe(0);
    const stolen = await mesh(["broker", "add-mac", "evil", "--identities", "orion"], { env: hubEnv });
    expect(stolen.stderr).toContain("orion already lives on Mac orion: an identity is hosted on one Mac");

    const macs: Record<string, { env: Record<string, string>; port: number; unit: string }> = {};
    for (const [mac, id] of [["nova", "nova"], ["orion", "orion"]] as const) {
      const home = mkdtempSync(join(tmpdir(), `mesh-${mac}-`));
      const env = { HOME: home, MESH_HOME: join(home, ".config", "openclaw-mesh") };
      const [port, mon] = [await freePort(), await freePort()];
      const r = await mesh(
        ["init", "--identity", id, "--creds", join(admin.MESH_HOME, "broker", "creds", `${id}.nk`), "--leaf", "--mac", mac, "--hub", `nats-leaf://127.0.0.1:${leafPort}`,
          "--leaf-credential", join(admin.MESH_HOME, "broker", "creds", `leaf-${mac}.leaf`), "--leaf-port", String(port), "--leaf-monitor-port", String(mon), "--no-start", "--platform", "linux"],
        { env },
      );
      expect(r.stdout).toContain("leaf server config");
      const conf = join(env.MESH_HOME, "leaf", "nats-server.conf");
      expect(readFileSync(conf, "utf8")).toContain(`domain: "mac-${mac}"`);
      const unit = join(home, ".config", "systemd", "user", "openclaw-mesh-leaf.service");
      expect(readFileSync(unit, "utf8")).toContain(`-c ${conf}`);
      const cfg = JSON.parse(readFileSync(join(env.MESH_HOME, "config.json"), "utf8")) as { server: string; leaf: { port: number; monitorPort: number } };
      expect(cfg.server).toBe(`nats://127.0.0.1:${port}`);
      expect(cfg.leaf.monitorPort).toBe(mon);
      macs[mac] = { env, port, unit };
    }
    for (const m of Object.values(macs)) {
      runUnit(m.unit);
      await waitForPort("127.0.0.1", m.port, 10_000);
    }
    // The Macs' layout is made by their sidecars at start; here by provisioning each leaf as one would.
    const { provisionLeaf } = await import("../../broker/leaf-provision.js");
    for (const [mac, ids] of [["nova", ["nova", "nova2"]], ["orion", ["orion"]]] as const) {
      const nc = await connectMesh({ server: `nats://127.0.0.1:${macs[mac]!.port}` });
      await provisionLeaf(nc, mac, ids);
      await nc.close();
    }
    const sent = await mesh(["send", "orion", "hello from nova"], { env: macs.nova!.env });
    // No sidecar of orion's has run here, so orion has no sealing key yet: sent clear, and said so.
    const clear = "mesh: warning: orion has published no sealing key (its sidecar has not run since sealed bodies came in), so this went in clear\n";
    expect(sent.stderr).toBe(clear);
    expect(sent.stdout).toMatch(/queued on this Mac \(OUTBOX-nova seq 1\)/);
    // Orion's inbox on orion's own leaf server has it, carried by the hub.
    const orion = await connectMesh({ server: `nats://127.0.0.1:${macs.orion!.port}` });
    stops.push(() => void orion.close());
    const jsm = await jetstreamManager(orion);
    await until("nova's message in orion's inbox on orion's leaf", async () => (await jsm.streams.info("INBOX-orion")).state.messages === 1, 20_000);

    // The link, as this Mac's commands show it while the hub is there.
    const upLine = "this Mac (nova): link to the hub up; 0 waiting to reach the hub, 0 on the hub waiting to come down";
    const peersUp = await mesh(["peers"], { env: macs.nova!.env });
    expect(peersUp.stderr).toBe("");
    expect(peersUp.stdout.split("\n")[0]).toBe(upLine);
    const topUp = await mesh(["top", "--once"], { env: macs.nova!.env });
    expect(topUp.stdout).toContain(`LINK\n  ${upLine}\n`);
    // Jobs are the hub's, read through its domain: none yet.
    expect(topUp.stdout).toContain("JOBS  queued 0  running 0  done 0  failed 0  cancelled 0");
    const doctorUp = (JSON.parse((await mesh(["doctor", "--json"], { env: macs.nova!.env })).stdout) as { checks: Array<{ name: string; status: string; detail: string }> }).checks;
    expect(doctorUp.find((c) => c.name === "link to the hub")).toEqual({ name: "link to the hub", status: "ok", detail: upLine });
    // The web view (mesh web, its own process as the user runs it) shows the same line.
    const webPort = await freePort();
    const web = spawn(process.execPath, [MESH_BIN, "web", "--port", String(webPort)], { env: { ...process.env, ...macs.nova!.env, MESH_LOG_LEVEL: "warn" }, stdio: "ignore" });
    stops.push(() => web.kill("SIGKILL"));
    type Link = { mac: string; connected: boolean; line: string } | undefined;
    const webLink = async (): Promise<Link> => {
      const r = await fetch(`http://127.0.0.1:${webPort}/api/state`).catch(() => undefined);
      return r?.ok ? ((await r.json()) as { link?: Link }).link : undefined;
    };
    let seenUp: Link;
    await until("the web view's link line", async () => (seenUp = await webLink()) !== undefined, 20_000);
    expect(seenUp).toEqual({ mac: "nova", connected: true, line: upLine });

    // The hub goes away: a send from nova is still acknowledged, on nova, at once, and says what waits.
    process.kill(Number(readFileSync(join(admin.MESH_HOME, "broker", "nats-server.pid"), "utf8")), "SIGKILL");
    const t0 = Date.now();
    const offline = await mesh(["send", "orion", "while the hub is away"], { env: macs.nova!.env });
    const tookMs = Date.now() - t0;
    expect(offline.stderr).toBe(clear);
    expect(offline.code).toBe(0);
    const m = /queued on this Mac \(OUTBOX-nova seq 2\) for orion: \S+; the hub is not reachable \(last seen (\S+)\); (\d+) waiting on this Mac for the hub/.exec(offline.stdout);
    expect(m, offline.stdout).not.toBeNull();
    const seen = JSON.parse(readFileSync(join(macs.nova!.env.MESH_HOME!, "leaf", "hub-seen.json"), "utf8")) as { seq: number; at: string };
    expect(m![1]).toBe(seen.at);
    expect(Number(m![2])).toBe(2 - seen.seq);
    // One short request to the hub (1.5 s), never a hang: the whole command within 10 s (node start included).
    expect(tookMs).toBeLessThan(10_000);

    // An ask needs the hub for its answer: one line, exit 3, at once (not a wait for its 5 min timeout).
    const t1 = Date.now();
    const asked = await mesh(["ask", "orion", "are you there?"], { env: macs.nova!.env });
    expect(asked.code).toBe(3);
    expect(asked.stderr).toMatch(/^mesh: the hub is not reachable \(last seen \S+\); \d+ waiting on this Mac for the hub: an ask needs it for the answer, so it was not sent \(`mesh send orion …` queues a message instead\)\n$/);
    expect(Date.now() - t1).toBeLessThan(10_000);

    // So does a job (jobs and their records live on the hub).
    const t2 = Date.now();
    const submitted = await mesh(["job", "submit", "run the tests"], { env: macs.nova!.env });
    expect(submitted.code).toBe(3);
    expect(submitted.stderr).toMatch(/^mesh: the hub is not reachable \(last seen \S+\); \d+ waiting on this Mac for the hub: jobs and their records live on the hub, so this needs the link \(try again once it is back\)\n$/);
    expect(Date.now() - t2).toBeLessThan(10_000);

    // Peers, top and doctor say the link is down (and peers exits 3: the other Macs' presence is on the hub).
    const downLine = new RegExp(`^the hub is not reachable \\(last seen ${seen.at.replace(/[.]/g, "\\.")}\\); ${2 - seen.seq} waiting on this Mac for the hub`);
    const peersDown = await mesh(["peers"], { env: macs.nova!.env });
    expect(peersDown.code).toBe(3);
    expect(peersDown.stderr.replace(/^mesh: /, "")).toMatch(downLine);
    expect(peersDown.stderr).toMatch(/: the presence of the other Macs is kept on the hub, so it cannot be listed now\n$/);
    const topDown = await mesh(["top", "--once"], { env: macs.nova!.env });
    expect(topDown.stdout).toContain("  peers, jobs and events are kept on the hub: shown again once the link is back");
    expect(topDown.stdout.split("\n")[3]!.replace(/^  this Mac \(nova\): /, "")).toMatch(downLine);
    const doctorDown = await mesh(["doctor", "--json"], { env: macs.nova!.env });
    const link = (JSON.parse(doctorDown.stdout) as { checks: Array<{ name: string; status: string; detail: string; fix?: string }> }).checks.find((c) => c.name === "link to the hub")!;
    expect(link.status).toBe("fail");
    expect(link.detail.replace(/^this Mac \(nova\): /, "")).toMatch(downLine);
    expect(link.fix).toContain("mail is queued on this Mac meanwhile");
    let seenDown: Link;
    await until("the web view's link down", async () => (seenDown = await webLink())?.connected === false, 20_000);
    expect(seenDown!.mac).toBe("nova");
    expect(seenDown!.line.replace(/^this Mac \(nova\): /, "")).toMatch(downLine);
  });
});
