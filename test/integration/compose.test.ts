import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { sendMessage } from "../../src/bus/publish.js";
import { brokerKind, NATS_IMAGE } from "../support/broker.js";
import { freePort } from "../support/ports.js";

/** docker-compose.yml runs the same broker config in a container (needs Docker + compose). */
const root = fileURLToPath(new URL("../..", import.meta.url));
const compose = ((): string[] | undefined => {
  if (brokerKind() !== "docker") return undefined;
  if (spawnSync("docker", ["compose", "version"], { stdio: "ignore" }).status === 0) return ["docker", "compose"];
  if (spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0) return ["docker-compose"];
  return undefined;
})();
const project = `meshtest${process.pid}`;

function run(args: string[], env: Record<string, string> = {}) {
  const [cmd, ...pre] = compose!;
  return spawnSync(cmd!, [...pre, "-p", project, ...args], {
    cwd: root,
    env: { ...process.env, MESH_NATS_IMAGE: NATS_IMAGE, ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
}

describe.skipIf(!compose)("docker-compose.yml", () => {
  afterAll(() => {
    run(["--profile", "cluster", "down", "-v", "--remove-orphans"]);
  });

  it("the cluster profile is a valid compose file", () => {
    const r = run(["--profile", "cluster", "config", "--services"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual(["n1", "n2", "n3", "nats"]);
  });

  it("runs the single broker with broker/nats-server.conf, JetStream on", async () => {
    const port = await freePort();
    const r = run(["up", "-d", "nats"], { MESH_PORT: String(port), MESH_MONITOR_PORT: String(await freePort()) });
    expect(r.status, r.stderr).toBe(0);
    let nc;
    for (let i = 0; ; i++) {
      try {
        nc = await connectMesh({ server: `nats://127.0.0.1:${port}` });
        break;
      } catch (err) {
        if (i > 40) throw err;
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    expect(nc.info?.server_name).toBe("mesh");
    expect(nc.info?.max_payload).toBe(1024 * 1024);
    await provision(nc);
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "via compose" });
    expect(sent.stream).toBe("INBOX");
    await nc.close();
  });
});
