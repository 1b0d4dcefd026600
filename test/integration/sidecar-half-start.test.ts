/**
 * No half-start: a sidecar that cannot open its HTTP port stops what it had started (its presence
 * entry is deleted) and exits 1 with one line naming the port and the config key. A real nats-server,
 * two real `mesh sidecar` processes on one machine with the same port.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm } from "@nats-io/kv";
import { listPeers } from "../../src/features/presence/presence.js";
import type { TestBroker } from "../support/broker.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { spawnSidecarProcess } from "../support/processes.js";
import { freePort } from "../support/ports.js";
import { until } from "../support/sidecar.js";

let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let hooks: HooksEndpoint;

beforeAll(async () => {
  m = await startMesh();
  ({ broker, nc, gateway: hooks } = m);
});

afterAll(async () => {
  await m?.stop();
});

describe("no half-start", () => {
  it("two sidecars with the same HTTP port: the second exits 1 naming the port and sidecar.httpPort, and is not online afterwards (the presence entry it had written is deleted); the first stays online", async () => {
    const port = await freePort();
    const first = spawnSidecarProcess({ identity: "half-a", server: broker.url, hooks, httpPort: port, jobs: false });
    try {
      await until("half-a online", async () => (await listPeers(nc)).find((p) => p.identity === "half-a" && p.state === "online"), 20_000);
      const second = spawnSidecarProcess({ identity: "half-b", server: broker.url, hooks, httpPort: port, jobs: false });
      const code = await Promise.race([second.exitCode(), new Promise<string>((r) => setTimeout(() => r("still running after 30 s"), 30_000))]);
      expect(code).toBe(1);
      expect(second.stderr()).toContain(
        `mesh: the sidecar's HTTP port 127.0.0.1:${port} is not available (EADDRINUSE): is another sidecar running on this machine? Set sidecar.httpPort in the config to a free port`,
      );
      // It had come online before the port failed: its entry was written, then deleted (a delete marker, not absent).
      const entry = await (await new Kvm(nc).open("mesh-presence")).get("half-b");
      expect(entry?.operation).toBe("DEL");
      const peers = await listPeers(nc);
      expect(peers.find((p) => p.identity === "half-b")?.state ?? "absent").not.toBe("online");
      expect(peers.find((p) => p.identity === "half-a")?.state).toBe("online");
      await second.stop();
    } finally {
      await first.stop();
    }
  });
});
