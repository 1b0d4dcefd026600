/**
 * Faults on the delivery path: broker restart, sidecar SIGKILL, gateway down 30 s, slow gateway.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { startBroker } from "../support/broker.js";
import { MESH_BIN } from "../support/cli.js";
import { startHooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar } from "../support/sidecar.js";
import { inOrder, keysSeen, stream, waitFor } from "./stream.js";
import { count, record } from "./tally.js";

describe("faults: delivery", () => {
  it("1. broker restart in the middle of a stream (file storage)", async () => {
    const broker = await startBroker({ fixedPort: true });
    const nc = await connectMesh({ server: broker.url, persistent: true });
    await provision(nc);
    const hooks = await startHooksEndpoint();
    const sidecar = await testSidecar({ identity: "f1", server: broker.url, gatewayUrl: hooks.url, hooksToken: hooks.token, jobs: false });
    const t0 = Date.now();
    const r = await stream(nc, {
      to: "f1",
      n: 300,
      ratePerSec: 100,
      senders: ["a", "b", "c"],
      during: async (i) => {
        if (i === 100) await broker.restart();
      },
    });
    await waitFor(() => new Set(keysSeen(hooks)).size >= r.acked.length, 60_000);
    await new Promise((res) => setTimeout(res, 1000));
    const c = count(r.acked, keysSeen(hooks));
    record({ scenario: "1. broker restart mid-stream", sent: r.sent, ...c, notes: `${broker.kind}; longest publish pause ${r.maxPauseMs} ms; sidecar reconnected by itself; ${hooks.replayed} idempotent replays; ${Math.round((Date.now() - t0) / 1000)} s` });
    expect(c.lost).toBe(0);
    expect(c.duplicates).toBe(0);
    expect(inOrder(keysSeen(hooks))).toBe(true);
    await sidecar.stop();
    await hooks.close();
    await nc.close();
    await broker.stop();
  });

  it("2. sidecar killed with SIGKILL mid-delivery, restarted", async () => {
    const broker = await startBroker();
    const nc = await connectMesh({ server: broker.url, persistent: true });
    await provision(nc, { identities: ["f2"] });
    const hooks = await startHooksEndpoint();
    hooks.respond = () => ({ status: 200, delayMs: 15 });
    const home = mkdtempSync(join(tmpdir(), "mesh-fault2-"));
    const cfg = join(home, "config.json");
    writeFileSync(
      cfg,
      JSON.stringify({ identity: "f2", server: broker.url, gateway: { url: hooks.url, hooksToken: hooks.token }, sidecar: { stateDir: join(home, "state"), jobs: false, httpPort: 0, inboxAckWaitMs: 5000 } }),
      { mode: 0o600 },
    );
    const run = (): ChildProcess =>
      spawn(process.execPath, [MESH_BIN, "sidecar"], { env: { ...process.env, MESH_CONFIG: cfg, MESH_HOME: home, MESH_LOG_LEVEL: "warn" }, stdio: "ignore" });
    let child = run();
    const r = await stream(nc, { to: "f2", n: 400, ratePerSec: 400, senders: ["a", "b"] });
    await waitFor(() => keysSeen(hooks).length >= 100, 30_000);
    child.kill("SIGKILL");
    await new Promise((res) => child.once("exit", res));
    const atKill = keysSeen(hooks).length;
    child = run();
    await waitFor(() => new Set(keysSeen(hooks)).size >= r.acked.length, 90_000);
    await new Promise((res) => setTimeout(res, 1000));
    child.kill("SIGTERM");
    await new Promise((res) => child.once("exit", res));
    const c = count(r.acked, keysSeen(hooks));
    record({ scenario: "2. sidecar SIGKILL mid-delivery", sent: r.sent, ...c, notes: `killed after ${atKill} deliveries; ${hooks.replayed} POSTs repeated after the kill were answered by the gateway's Idempotency-Key replay (no second turn)` });
    expect(c.lost).toBe(0);
    expect(c.duplicates).toBe(0);
    expect(inOrder(keysSeen(hooks))).toBe(true);
    await hooks.close();
    await nc.close();
    await broker.stop();
  });

  it("3. gateway down 30 s under a steady stream, then back", async () => {
    const broker = await startBroker();
    const nc = await connectMesh({ server: broker.url, persistent: true });
    await provision(nc);
    const hooks = await startHooksEndpoint();
    const sidecar = await testSidecar({ identity: "f3", server: broker.url, gatewayUrl: hooks.url, hooksToken: hooks.token, jobs: false });
    const t0 = Date.now();
    const r = await stream(nc, {
      to: "f3",
      n: 700,
      ratePerSec: 20,
      senders: ["a", "b", "c"],
      during: async (i) => {
        if (i === 50) await hooks.stop();
        if (i === 650) await hooks.start();
      },
    });
    await waitFor(() => new Set(keysSeen(hooks)).size >= r.acked.length, 60_000);
    const c = count(r.acked, keysSeen(hooks));
    record({ scenario: "3. gateway down 30 s, then back", sent: r.sent, ...c, notes: `down for ${Math.round((650 - 50) / 20)} s at 20 msg/s from 3 senders; per-sender order kept: ${inOrder(keysSeen(hooks))}; caught up ${Math.round((Date.now() - t0) / 1000) - 35} s after` });
    expect(c.lost).toBe(0);
    expect(c.duplicates).toBe(0);
    expect(inOrder(keysSeen(hooks))).toBe(true);
    await sidecar.stop();
    await hooks.close();
    await nc.close();
    await broker.stop();
  });

  it("5. slow gateway (answers after 5 s, ack wait 2 s): no redelivery storm, no duplicate turns", async () => {
    const broker = await startBroker();
    const nc = await connectMesh({ server: broker.url, persistent: true });
    await provision(nc);
    const hooks = await startHooksEndpoint();
    hooks.respond = () => ({ status: 200, delayMs: 5000 });
    const sidecar = await testSidecar({ identity: "f5", server: broker.url, gatewayUrl: hooks.url, hooksToken: hooks.token, jobs: false, inboxAckWaitMs: 2000 });
    const r = await stream(nc, { to: "f5", n: 4, ratePerSec: 100, senders: ["a"] });
    await waitFor(() => keysSeen(hooks).length >= 4, 60_000);
    await new Promise((res) => setTimeout(res, 3000));
    const jsm = await jetstreamManager(nc);
    const ci = await jsm.consumers.info("INBOX", "inbox-f5");
    const c = count(r.acked, keysSeen(hooks));
    record({ scenario: "5. slow gateway (5 s per turn, 2 s ack wait)", sent: r.sent, ...c, notes: `${hooks.posts} POSTs for ${r.sent} messages; broker redeliveries ${ci.num_redelivered} (in-progress acks keep the claim)` });
    expect(hooks.posts).toBe(4);
    expect(ci.num_redelivered).toBe(0);
    expect(c.duplicates).toBe(0);
    expect(c.lost).toBe(0);
    await sidecar.stop();
    await hooks.close();
    await nc.close();
    await broker.stop();
  });
});
