/**
 * README (Broker design: "On a 3-node cluster run `mesh broker provision --replicas 3`"; the server
 * URL may list several nodes): a sidecar and a client given all three node URLs carry on when the
 * node they are connected to dies. A real 3-node JetStream cluster (test/support/broker.ts).
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { sendMessage } from "../../src/bus/publish.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { startCluster, type TestCluster } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar, until } from "../support/sidecar.js";

let cluster: TestCluster;
let admin: NatsConnection;
let hooks: HooksEndpoint;
let sidecar: Sidecar;

beforeAll(async () => {
  cluster = await startCluster();
  admin = await connectMesh({ server: cluster.url, persistent: true, name: "failover-admin" });
  // JetStream needs a meta leader before streams can be created.
  await until("provisioned with 3 replicas", () => provision(admin, { replicas: 3, identities: ["nova"] }).then(() => true, () => false), 60_000);
  hooks = await startHooksEndpoint();
  sidecar = await testSidecar({ identity: "nova", server: cluster.url, gatewayUrl: hooks.url, hooksToken: hooks.token, httpPort: 0, jobs: false });
}, 180_000);

afterAll(async () => {
  await sidecar?.stop();
  await hooks?.close();
  await admin?.close();
  await cluster?.stop();
});

/** Sends, retrying while the cluster elects a new leader (at most 30 s); returns the message id. */
async function send(nc: NatsConnection, body: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return (await sendMessage(nc, { from: "clawd", to: "nova", body })).id!;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const turns = () => hooks.postLog.filter((p) => p.turn && p.body?.message?.includes("#fo#")).map((p) => p.body!.message!.slice(p.body!.message!.indexOf("#fo#")));

describe("failover on a 3-node cluster", () => {
  it(
    "the node the sidecar is connected to is stopped: the sidecar reconnects to another node by itself, /healthz answers 200 after the reconnect, and every message sent before and after is delivered once, in order; `mesh send` with all three URLs works while that node is still down",
    async () => {
      for (let i = 0; i < 3; i++) await send(admin, `#fo# before ${i}`);
      await until("3 delivered", () => turns().length === 3, 30_000);
      const own = sidecar.nc.info?.server_name;
      expect(own).toMatch(/^n[123]$/);
      const node = cluster.nodes.find((n) => n.name === own)!;
      await node.stop();
      const moved = await until("the sidecar reconnected to another node", () => {
        const now = sidecar.nc.info?.server_name;
        return now && now !== own && !sidecar.nc.isClosed() && now;
      }, 60_000);
      expect(["n1", "n2", "n3"].filter((n) => n !== own)).toContain(moved);
      const base = `http://127.0.0.1:${(sidecar.http!.address() as AddressInfo).port}`;
      await until("/healthz 200 after the reconnect", async () => (await fetch(`${base}/healthz`)).status === 200, 30_000);
      for (let i = 0; i < 5; i++) await send(admin, `#fo# after ${i}`);
      const cli = await mesh(["send", "nova", "#fo# from the cli"], { env: { MESH_SERVER: cluster.url, MESH_IDENTITY: "clawd" }, timeoutMs: 60_000 });
      expect(cli.code, cli.stderr).toBe(0);
      const want = ["before 0", "before 1", "before 2", "after 0", "after 1", "after 2", "after 3", "after 4", "from the cli"].map((t) => `#fo# ${t}`);
      await until("all 9 delivered", () => turns().length >= 9, 60_000);
      expect(turns()).toEqual(want);
    },
    240_000,
  );
});
