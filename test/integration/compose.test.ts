import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { sendMessage } from "../../src/bus/publish.js";
import { brokerKind, NATS_IMAGE } from "../support/broker.js";
import { freePort } from "../support/ports.js";
import { until } from "../support/sidecar.js";

/** docker-compose.yml runs the same broker config in a container (needs Docker + compose). */
const root = fileURLToPath(new URL("../..", import.meta.url));
const compose = ((): string[] | undefined => {
  if (brokerKind() !== "docker") return undefined;
  if (spawnSync("docker", ["compose", "version"], { stdio: "ignore" }).status === 0) return ["docker", "compose"];
  if (spawnSync("docker-compose", ["version"], { stdio: "ignore" }).status === 0) return ["docker-compose"];
  return undefined;
})();
/** CI (.ci/run sets MESH_TEST_BROKER=docker after starting dockerd) must run these, never skip them. */
const inCI = Boolean(process.env.CI) || process.env.MESH_TEST_BROKER === "docker";
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

// The failing counterpart of the skipIf below: in CI a missing engine or compose is a failure that says why.
describe.runIf(!compose && inCI)("docker-compose.yml (CI)", () => {
  it("needs a Docker engine and docker compose / docker-compose", () => {
    expect.fail(
      brokerKind() !== "docker"
        ? `the broker harness runs ${brokerKind()} brokers, not Docker (no engine answering with image ${NATS_IMAGE}, or MESH_TEST_BROKER=${process.env.MESH_TEST_BROKER ?? "unset"}): the compose tests cannot run; .ci/run starts dockerd and fails if it does not come up`
        : "neither `docker compose` nor `docker-compose` works: the compose tests cannot run; .ci/run installs docker-compose (apt-get)",
    );
  });
});

describe.skipIf(!compose)("docker-compose.yml", () => {
  afterAll(() => {
    run(["--profile", "cluster", "down", "-v", "--remove-orphans"]);
  });

  it("the cluster profile is a valid compose file", () => {
    const r = run(["--profile", "cluster", "config", "--services"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual(["n1", "n2", "n3", "nats"]);
  });

  it("runs the single broker with broker/nats-server.conf, JetStream on; its monitoring port is published on the host's 127.0.0.1 only", async () => {
    const port = await freePort();
    const monitor = await freePort();
    const r = run(["up", "-d", "nats"], { MESH_PORT: String(port), MESH_MONITOR_PORT: String(monitor) });
    expect(r.status, r.stderr).toBe(0);
    // Docker's own answer: where the container's 8222 is published.
    const published = run(["port", "nats", "8222"], { MESH_PORT: String(port), MESH_MONITOR_PORT: String(monitor) });
    expect(published.status, published.stderr).toBe(0);
    expect(published.stdout.trim()).toBe(`127.0.0.1:${monitor}`);
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
    // Inside the container it listens on 0.0.0.0 (Docker could not publish it otherwise), as the rendered file says.
    const varz = (await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json()) as { http_host: string };
    expect(varz.http_host).toBe("0.0.0.0");
    await provision(nc);
    // As `mesh send` does: nova has never started, so its inbox is made on this open broker.
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "via compose" }, { createInbox: true });
    expect(sent.stream).toBe("INBOX-nova");
    await nc.close();
  });

  it("the cluster profile forms a 3-node JetStream cluster: every node answers as n1/n2/n3 of cluster mesh, an R3 stream has a leader and 2 current replicas; then it is torn down", async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    const env = { MESH_CLUSTER_PORT_1: String(ports[0]), MESH_CLUSTER_PORT_2: String(ports[1]), MESH_CLUSTER_PORT_3: String(ports[2]) };
    const up = run(["--profile", "cluster", "up", "-d", "n1", "n2", "n3"], env);
    expect(up.status, up.stderr).toBe(0);
    const conns: NatsConnection[] = [];
    try {
      for (const port of ports) conns.push(await connectWithin(`nats://127.0.0.1:${port}`, 20_000));
      expect(conns.map((c) => c.info?.server_name).sort()).toEqual(["n1", "n2", "n3"]);
      expect(conns.map((c) => c.info?.cluster)).toEqual(["mesh", "mesh", "mesh"]);
      const nc = conns[0]!;
      // The meta group needs a leader before a replicated stream can be made.
      for (let i = 0; ; i++) {
        try {
          await provision(nc, { replicas: 3, identities: ["nova"] });
          break;
        } catch (err) {
          if (i > 60) throw err;
          await new Promise((res) => setTimeout(res, 500));
        }
      }
      const jsm = await jetstreamManager(nc);
      const info = await until("INBOX-nova replicated on all 3 nodes", async () => {
        const i = await jsm.streams.info("INBOX-nova");
        return i.cluster?.leader !== undefined && i.cluster.replicas?.length === 2 && i.cluster.replicas.every((r) => r.current) ? i : undefined;
      }, 30_000);
      expect(info.config.num_replicas).toBe(3);
      expect([info.cluster!.leader!, ...info.cluster!.replicas!.map((r) => r.name)].sort()).toEqual(["n1", "n2", "n3"]);
      // A message published on one node is stored by the cluster and readable from another.
      const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "via the compose cluster" }, { createInbox: true });
      const other = await jetstreamManager(conns[2]!);
      expect((await other.streams.getMessage("INBOX-nova", { seq: sent.seq! }))!.json<{ id: string }>().id).toBe(sent.envelope.id);
    } finally {
      for (const c of conns) await c.close();
    }
    const down = run(["--profile", "cluster", "rm", "--stop", "--force", "-v", "n1", "n2", "n3"], env);
    expect(down.status, down.stderr).toBe(0);
    const left = run(["--profile", "cluster", "ps", "-q", "n1", "n2", "n3"], env);
    expect(left.stdout.trim()).toBe("");
  });
});

async function connectWithin(server: string, ms: number): Promise<NatsConnection> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await connectMesh({ server });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((res) => setTimeout(res, 250));
    }
  }
}
