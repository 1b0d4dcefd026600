/**
 * The broker harness every integration test uses: a REAL nats-server with JetStream.
 * - docker: testcontainers (@testcontainers/nats) with the locally built image
 *   (test/support/build-nats-image.sh), when a Docker engine answers and the image exists;
 * - process: a spawned nats-server on free loopback ports (broker/local.ts, the same code as
 *   `mesh broker up`).
 * MESH_TEST_BROKER=docker|process forces one.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { NatsContainer, type StartedNatsContainer } from "@testcontainers/nats";
import { Network, type StartedNetwork } from "testcontainers";
import { startLocalBroker, findNatsServer, waitForPort } from "../../broker/local.js";
import { renderServerConfig } from "../../broker/server-config.js";
import { freePort } from "./ports.js";

export const NATS_IMAGE = process.env.MESH_NATS_IMAGE ?? "openclaw-mesh/nats:local";
process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";

export type BrokerKind = "docker" | "process";

let cachedKind: BrokerKind | undefined;
export function brokerKind(): BrokerKind {
  if (cachedKind) return cachedKind;
  const forced = process.env.MESH_TEST_BROKER;
  if (forced === "docker" || forced === "process") return (cachedKind = forced);
  const r = spawnSync("docker", ["image", "inspect", NATS_IMAGE], { stdio: "ignore", timeout: 10_000 });
  cachedKind = r.status === 0 ? "docker" : "process";
  return cachedKind;
}

export interface TestBroker {
  kind: BrokerKind;
  /** Client URL (may carry user:pass for the container). */
  url: string;
  stop(): Promise<void>;
  /** Stop and start again on the same port and store (file storage survives). */
  restart(): Promise<void>;
  /** Stop the server, keeping its port and store for up() (docker: needs fixedPort). */
  down(): Promise<void>;
  /** Start it again after down(), on the same port and store; resolves once the port answers. */
  up(): Promise<void>;
  /** The container (docker kind), for pause/network faults. */
  container?: StartedNatsContainer;
}

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `mesh-${prefix}-`));
}

/** A single JetStream node. */
export async function startBroker(opts: { kind?: BrokerKind; fixedPort?: boolean } = {}): Promise<TestBroker> {
  const kind = opts.kind ?? brokerKind();
  if (kind === "docker") {
    // A fixed host port survives a container restart (clients reconnect to the same address).
    const fixed = opts.fixedPort ? await freePort() : undefined;
    const make = () => {
      const c = new NatsContainer(NATS_IMAGE).withJetStream().withArg("--store_dir", "/data").withArg("--server_name", "mesh-test");
      return fixed ? c.withExposedPorts({ container: 4222, host: fixed }) : c;
    };
    let container: StartedNatsContainer = await make().start();
    const urlOf = (c: StartedNatsContainer): string => {
      const o = c.getConnectionOptions();
      return fixed ? `nats://${o.user}:${o.pass}@127.0.0.1:${fixed}` : `nats://${o.user}:${o.pass}@${o.servers}`;
    };
    const broker: TestBroker = {
      kind,
      container,
      url: urlOf(container),
      stop: async () => {
        await container.stop({ timeout: 5_000 }).catch(() => undefined);
        spawnSync("docker", ["rm", "-f", container.getId()], { stdio: "ignore" });
      },
      restart: async () => {
        if (fixed) {
          // The same restart, waited for on its fixed port. testcontainers' restart() waits for a
          // new "Server is ready" log line, which under load it once did not see for 120 s (CI at
          // b0989e8) while the server was up; the port answering is what clients need.
          docker(["restart", "-t", "5", container.getId()]);
          await waitForPort("127.0.0.1", fixed, 15_000);
          return;
        }
        await container.restart();
        const o = container.getConnectionOptions();
        await waitForPort("127.0.0.1", Number(String(o.servers).split(":").pop()), 15_000);
        broker.url = urlOf(container);
      },
      down: async () => {
        if (!fixed) throw new Error("down()/up() on a docker broker need startBroker({ fixedPort: true })");
        docker(["stop", "-t", "5", container.getId()]);
      },
      up: async () => {
        docker(["start", container.getId()]);
        await waitForPort("127.0.0.1", fixed!, 15_000);
      },
    };
    return broker;
  }
  const stateDir = tempDir("broker");
  const port = await freePort();
  const monitorPort = await freePort();
  let local = await startLocalBroker({ stateDir, port, monitorPort, serverName: "mesh-test" });
  return {
    kind,
    url: local.url,
    stop: async () => {
      await local.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
    restart: async () => {
      await local.stop();
      local = await startLocalBroker({ stateDir, port, monitorPort, serverName: "mesh-test" });
    },
    down: async () => {
      await local.stop();
    },
    up: async () => {
      local = await startLocalBroker({ stateDir, port, monitorPort, serverName: "mesh-test" });
    },
  };
}

/** Runs a docker command; throws with its exit status and stderr when it fails. */
function docker(args: string[]): void {
  const r = spawnSync("docker", args, { encoding: "utf8", timeout: 30_000 });
  if (r.error) throw new Error(`docker ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`docker ${args.join(" ")} exited ${r.status ?? r.signal}: ${r.stderr.trim()}`);
}

export interface TestCluster {
  kind: BrokerKind;
  /** Comma-separated client URLs of all three nodes. */
  url: string;
  nodes: Array<{ name: string; url: string; stop(): Promise<void>; start(): Promise<void>; cut?(): void; heal?(): void }>;
  stop(): Promise<void>;
}

/** A 3-node JetStream cluster. */
export async function startCluster(opts: { kind?: BrokerKind } = {}): Promise<TestCluster> {
  const kind = opts.kind ?? brokerKind();
  const names = ["n1", "n2", "n3"];
  if (kind === "docker") {
    const network: StartedNetwork = await new Network().start();
    const routes = names.map((n) => `nats://${n}:6222`).join(",");
    const containers = await Promise.all(
      names.map((n) =>
        new NatsContainer(NATS_IMAGE)
          .withJetStream()
          .withNetwork(network)
          .withNetworkAliases(n)
          .withArg("--server_name", n)
          .withArg("--store_dir", "/data")
          .withArg("--cluster_name", "mesh")
          .withArg("--cluster", "nats://0.0.0.0:6222")
          .withArg("--routes", routes)
          .start(),
      ),
    );
    const urlOf = (c: StartedNatsContainer): string => {
      const o = c.getConnectionOptions();
      return `nats://${o.user}:${o.pass}@${o.servers}`;
    };
    return {
      kind,
      url: containers.map(urlOf).join(","),
      nodes: containers.map((c, i) => ({
        name: names[i] as string,
        url: urlOf(c),
        stop: async () => {
          await c.stop({ timeout: 5_000, remove: false } as never);
        },
        start: async () => {
          await c.restart();
        },
        // Cut from / put back on the cluster network (docker network disconnect/connect); a failed
        // docker command throws with its own stderr.
        cut: () => docker(["network", "disconnect", network.getName(), c.getId()]),
        heal: () => docker(["network", "connect", "--alias", names[i] as string, network.getName(), c.getId()]),
      })),
      stop: async () => {
        // A node stopped and started again by a test is not always stopped by testcontainers'
        // stop(); remove every node by id so none is left running.
        for (const c of containers) spawnSync("docker", ["rm", "-f", c.getId()], { stdio: "ignore" });
        await network.stop().catch(() => undefined);
      },
    };
  }
  const binary = findNatsServer();
  const base = tempDir("cluster");
  const ports = await Promise.all(names.map(async () => ({ client: await freePort(), cluster: await freePort(), http: await freePort() })));
  const routes = ports.map((p) => `nats://127.0.0.1:${p.cluster}`);
  const procs: Array<ChildProcess | undefined> = [];
  const startNode = async (i: number): Promise<void> => {
    const name = names[i] as string;
    const p = ports[i]!;
    const dir = join(base, name);
    mkdirSync(join(dir, "js"), { recursive: true });
    const conf = join(dir, "nats.conf");
    writeFileSync(
      conf,
      renderServerConfig({
        serverName: name,
        host: "127.0.0.1",
        port: p.client,
        monitorPort: p.http,
        storeDir: join(dir, "js"),
        cluster: { name: "mesh", host: "127.0.0.1", port: p.cluster, routes },
      }),
    );
    procs[i] = spawn(binary, ["-c", conf, "-l", join(dir, "nats.log")], { stdio: "ignore" });
    await waitForPort("127.0.0.1", p.client, 15_000);
  };
  const stopNode = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const c = procs[i];
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once("exit", () => resolve());
      c.kill("SIGTERM");
    });
  await Promise.all(names.map((_, i) => startNode(i)));
  return {
    kind,
    url: ports.map((p) => `nats://127.0.0.1:${p.client}`).join(","),
    nodes: names.map((name, i) => ({
      name,
      url: `nats://127.0.0.1:${ports[i]!.client}`,
      stop: () => stopNode(i),
      start: () => startNode(i),
    })),
    stop: async () => {
      await Promise.all(names.map((_, i) => stopNode(i)));
      rmSync(base, { recursive: true, force: true });
    },
  };
}
