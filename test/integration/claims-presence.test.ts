/**
 * README (The sidecar → Presence): every 5 s the sidecar writes its entry to `mesh-presence` (TTL
 * 60 s); `mesh peers` shows online (< 15 s), stale, offline; a graceful stop deletes the entry; an
 * entry that is not refreshed expires. Real `mesh sidecar` processes (SIGKILL has to be a real
 * kill), a real nats-server, the real `mesh peers`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm, type KV } from "@nats-io/kv";
import { listPeers } from "../../src/features/presence/presence.js";
import { BUCKETS } from "../../subjects/names.js";
import { presenceSchema } from "../../subjects/mod.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { spawnSidecarProcess } from "../support/processes.js";
import { until } from "../support/sidecar.js";

interface PeerJson {
  identity: string;
  state: string;
  ageMs?: number;
  presence?: { lastSeen: string };
}

let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let kv: KV;
let hooks: HooksEndpoint;
let env: Record<string, string>;

beforeAll(async () => {
  m = await startMesh();
  ({ broker, nc, gateway: hooks } = m);
  kv = await new Kvm(nc).open(BUCKETS.presence);
  env = { MESH_SERVER: broker.url, MESH_HOME: mkdtempSync(join(tmpdir(), "mesh-home-")), MESH_IDENTITY: "watcher" };
});

afterAll(async () => {
  await m?.stop();
});

async function peer(id: string): Promise<PeerJson | undefined> {
  const r = await mesh(["peers", "--json"], { env });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as PeerJson[]).find((p) => p.identity === id);
}

async function started(id: string): Promise<void> {
  await until(`${id} writes its presence`, async () => (await kv.get(id))?.operation === "PUT", 30_000);
}

describe("presence", () => {
  it("thresholds on a real heartbeat entry: age 15 s is online, 15.001 s stale, 60 s stale, 60.001 s offline", async () => {
    const p = spawnSidecarProcess({ identity: "thresholds", server: broker.url, hooks });
    try {
      await started("thresholds");
      const e = await kv.get("thresholds");
      const lastSeen = Date.parse(presenceSchema.parse(JSON.parse(e!.string())).lastSeen);
      const at = async (ageMs: number) => (await listPeers(nc, lastSeen + ageMs)).find((x) => x.identity === "thresholds")?.state;
      expect(await at(0)).toBe("online");
      expect(await at(15_000)).toBe("online");
      expect(await at(15_001)).toBe("stale");
      expect(await at(60_000)).toBe("stale");
      expect(await at(60_001)).toBe("offline");
    } finally {
      await p.stop();
    }
  });

  it("a graceful stop (SIGTERM) deletes the entry: right after the process exits the key reads as deleted and `mesh peers` shows offline with no presence", async () => {
    const p = spawnSidecarProcess({ identity: "graceful", server: broker.url, hooks });
    await started("graceful");
    expect((await peer("graceful"))?.state).toBe("online");
    await p.stop();
    const e = await kv.get("graceful");
    expect(e?.operation).toBe("DEL");
    expect(await peer("graceful")).toEqual({ identity: "graceful", state: "offline", inbox: { waiting: 0, inFlight: 0 } });
  });

  it(
    "a sidecar killed with SIGKILL: online, then stale once its last heartbeat is over 15 s old, then offline when the bucket's 60 s TTL has removed the entry",
    async () => {
      const p = spawnSidecarProcess({ identity: "killed", server: broker.url, hooks });
      await started("killed");
      // Two heartbeats apart: it is beating, not just written once.
      const first = (await kv.get("killed"))!.revision;
      await until("a second heartbeat", async () => ((await kv.get("killed"))?.revision ?? 0) > first, 15_000);
      await p.kill();
      const killedAt = Date.now();
      const lastSeen = Date.parse(presenceSchema.parse(JSON.parse((await kv.get("killed"))!.string())).lastSeen);
      expect(lastSeen).toBeLessThanOrEqual(killedAt);
      expect((await peer("killed"))?.state).toBe("online");

      const stale = await until("shown stale", async () => {
        const x = await peer("killed");
        return x?.state === "stale" && x;
      }, 30_000);
      expect(stale.ageMs!).toBeGreaterThan(15_000);
      expect(stale.presence!.lastSeen).toBe(new Date(lastSeen).toISOString());

      const offline = await until("shown offline", async () => {
        const x = await peer("killed");
        return x?.state === "offline" && x;
      }, 90_000);
      const offlineAt = Date.now();
      // Offline because the entry is gone (expired by the bucket's TTL), not because of its age.
      expect(offline.presence).toBeUndefined();
      expect(await kv.get("killed")).toBeNull();
      expect(offlineAt - lastSeen).toBeGreaterThanOrEqual(60_000);
      const human = await mesh(["peers"], { env });
      expect(human.stdout).toMatch(/^killed +offline /m);
      await p.stop();
    },
    150_000,
  );
});
