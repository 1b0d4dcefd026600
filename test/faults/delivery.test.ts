/**
 * Faults on the delivery path: broker restart, sidecar SIGKILL, gateway down about 30 s, slow gateway.
 * Every number a row of RELIABILITY.md shows is measured here (test/README.md).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { MESH_BIN } from "../support/cli.js";
import { startMesh } from "../support/mesh.js";
import { firstTurnAt, inOrder, keysSeen, stream, waitFor } from "./stream.js";
import { count, observedBroker, record } from "./tally.js";

/** Undone after each test, last first, whether it passed or not (no broker or process left behind). */
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!().catch(() => undefined);
});

describe("faults: delivery", () => {
  it("1. broker restarted mid-stream (file storage): the sidecar's connection drops and comes back by itself, turns resume; nothing lost, no duplicate turn, per-sender order kept", async () => {
    const m = await startMesh({ broker: { fixedPort: true }, persistent: true });
    cleanup.push(() => m.stop());
    const { broker, nc, gateway: hooks } = m;
    const sidecar = await m.sidecar("f1", { jobs: false });
    // What the sidecar's own connection goes through, as its status stream reports it.
    const statuses: Array<{ type: string; at: number }> = [];
    void (async () => {
      for await (const s of sidecar.nc.status()) statuses.push({ type: s.type, at: Date.now() });
    })();
    const t0 = Date.now();
    let restartCalled = 0;
    let restartReturned = 0;
    const r = await stream(nc, {
      to: "f1",
      n: 300,
      ratePerSec: 100,
      senders: ["a", "b", "c"],
      during: async (i) => {
        if (i === 100) {
          restartCalled = Date.now();
          await broker.restart();
          restartReturned = Date.now();
        }
      },
    });
    await waitFor(() => new Set(keysSeen(hooks)).size >= r.acked.length, 60_000);
    await new Promise((res) => setTimeout(res, 1000));
    const doneAt = Date.now();
    const c = count(r.acked, hooks);
    const disconnect = statuses.find((s) => s.type === "disconnect" && s.at >= restartCalled);
    const reconnect = disconnect ? statuses.find((s) => s.type === "reconnect" && s.at >= disconnect.at) : undefined;
    const turnsAfterReconnect = reconnect ? hooks.received.filter((h) => h.at >= reconnect.at).length : 0;
    const observedReconnect = disconnect && reconnect
      ? `sidecar's connection: disconnect ${disconnect.at - restartCalled} ms after the restart began, reconnect ${reconnect.at - disconnect.at} ms after that (its status stream), ${turnsAfterReconnect} turns after it`
      : `sidecar's connection: ${disconnect ? "disconnect seen" : "no disconnect seen"}, ${reconnect ? "reconnect seen" : "NO reconnect seen"}`;
    record({
      scenario: "1. broker restart mid-stream",
      broker: observedBroker(broker.kind, nc),
      sent: r.sent,
      ...c,
      notes: `restart() took ${restartReturned - restartCalled} ms; ${observedReconnect}; longest publish pause ${r.maxPauseMs} ms; ${hooks.replayed} idempotent replays; ${Math.round((doneAt - t0) / 1000)} s in all`,
    });
    expect(disconnect, "the sidecar's connection never saw the broker go away").toBeDefined();
    expect(reconnect, "the sidecar's connection never reconnected").toBeDefined();
    expect(turnsAfterReconnect).toBeGreaterThan(0);
    expect(c.lost).toBe(0);
    expect(c.turns!.duplicates).toBe(0);
    expect(inOrder(keysSeen(hooks))).toBe(true);
  });

  it("2. sidecar killed with SIGKILL mid-delivery and restarted: nothing lost, no message starts a second turn (any repeated POST carries its first POST's Idempotency-Key, which the gateway replays), per-sender order kept", async () => {
    const m = await startMesh({ persistent: true, provision: { identities: ["f2"] } });
    cleanup.push(() => m.stop());
    const { broker, nc, gateway: hooks } = m;
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
    cleanup.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    const r = await stream(nc, { to: "f2", n: 400, ratePerSec: 400, senders: ["a", "b"] });
    await waitFor(() => keysSeen(hooks).length >= 100, 30_000);
    const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
    child.kill("SIGKILL");
    const [, killSignal] = await exited;
    const killedAt = Date.now();
    const turnsAtKill = hooks.received.length;
    const postsAtKill = hooks.postLog.length;
    child = run();
    await waitFor(() => new Set(keysSeen(hooks)).size >= r.acked.length, 90_000);
    await new Promise((res) => setTimeout(res, 1000));
    const stopped = once(child, "exit");
    child.kill("SIGTERM");
    await stopped;
    const c = count(r.acked, hooks);
    const after = hooks.postLog.slice(postsAtKill);
    const replaysAfter = after.filter((p) => p.replay).length;
    const turnsAfter = hooks.received.filter((h) => h.at >= killedAt).length;
    record({
      scenario: "2. sidecar SIGKILL mid-delivery",
      broker: observedBroker(broker.kind, nc),
      sent: r.sent,
      ...c,
      notes: `the first sidecar exited by ${killSignal ?? "no signal"} after ${turnsAtKill} turns; the restarted one made ${after.length} POSTs, ${replaysAfter} of them answered by the gateway's Idempotency-Key replay, and started ${turnsAfter} turns`,
    });
    expect(killSignal).toBe("SIGKILL");
    expect(turnsAfter).toBeGreaterThan(0);
    expect(c.lost).toBe(0);
    expect(c.turns!.duplicates).toBe(0);
    expect(inOrder(keysSeen(hooks))).toBe(true);
  });

  it("3. gateway down at least 25 s under a steady stream, then back: the backlog is delivered; nothing lost, no duplicate turn, per-sender order kept", async () => {
    const m = await startMesh({ persistent: true });
    cleanup.push(() => m.stop());
    const { broker, nc, gateway: hooks } = m;
    await m.sidecar("f3", { jobs: false });
    let downAt = 0;
    let upAt = 0;
    const r = await stream(nc, {
      to: "f3",
      n: 700,
      ratePerSec: 20,
      senders: ["a", "b", "c"],
      during: async (i) => {
        if (i === 50) {
          await hooks.stop();
          downAt = Date.now();
        }
        if (i === 650) {
          await hooks.start();
          upAt = Date.now();
        }
      },
    });
    await waitFor(() => new Set(keysSeen(hooks)).size >= r.acked.length, 60_000);
    const c = count(r.acked, hooks);
    const turnAt = firstTurnAt(hooks);
    // The backlog: acknowledged before the gateway was back, without a turn by then.
    const backlog = r.acked.filter((k) => r.ackedAt.get(k)! <= upAt && !((turnAt.get(k) ?? Infinity) <= upAt));
    const backlogDone = backlog.map((k) => turnAt.get(k));
    const caughtUpMs = backlogDone.every((t) => t !== undefined) ? Math.max(...(backlogDone as number[])) - upAt : undefined;
    const ackedWhileDown = r.acked.filter((k) => r.ackedAt.get(k)! >= downAt && r.ackedAt.get(k)! <= upAt).length;
    const postsWhileDown = hooks.postLog.filter((p) => p.at > downAt && p.at < upAt).length;
    const downMs = upAt - downAt;
    const senders = new Set(r.acked.map((k) => k.split(":")[0])).size;
    record({
      scenario: "3. gateway down, then back",
      broker: observedBroker(broker.kind, nc),
      sent: r.sent,
      ...c,
      notes: `gateway down ${(downMs / 1000).toFixed(1)} s (stop() returned → start() returned); ${ackedWhileDown} messages from ${senders} senders acknowledged meanwhile, ${postsWhileDown} POSTs reached it meanwhile; backlog of ${backlog.length} caught up ${caughtUpMs === undefined ? "NEVER" : `${(caughtUpMs / 1000).toFixed(1)} s`} after it was back; per-sender order kept: ${inOrder(keysSeen(hooks))}`,
    });
    expect(downMs).toBeGreaterThanOrEqual(25_000);
    expect(postsWhileDown).toBe(0);
    expect(backlog.length).toBeGreaterThan(0);
    expect(caughtUpMs).toBeDefined();
    expect(c.lost).toBe(0);
    expect(c.turns!.duplicates).toBe(0);
    expect(inOrder(keysSeen(hooks))).toBe(true);
  });

  it("5. slow gateway (answers after ~5 s, consumer ack wait 2 s): one POST per message, no broker redelivery, no duplicate turn, nothing lost", async () => {
    const m = await startMesh({ persistent: true });
    cleanup.push(() => m.stop());
    const { broker, nc, gateway: hooks } = m;
    hooks.respond = () => ({ status: 200, delayMs: 5000 });
    await m.sidecar("f5", { jobs: false, inboxAckWaitMs: 2000 });
    const r = await stream(nc, { to: "f5", n: 4, ratePerSec: 100, senders: ["a"] });
    await waitFor(() => keysSeen(hooks).length >= 4, 60_000);
    await new Promise((res) => setTimeout(res, 3000));
    const jsm = await jetstreamManager(nc);
    const ci = await jsm.consumers.info("INBOX-f5", "inbox-f5");
    const c = count(r.acked, hooks);
    const answerMs = hooks.postLog.filter((p) => p.answeredAt > 0).map((p) => p.answeredAt - p.at);
    const ackWaitMs = (ci.config.ack_wait ?? 0) / 1e6;
    record({
      scenario: "5. slow gateway, ack wait shorter than a turn",
      broker: observedBroker(broker.kind, nc),
      sent: r.sent,
      ...c,
      notes: `gateway answered each POST after ${Math.min(...answerMs)}–${Math.max(...answerMs)} ms; consumer ack wait ${ackWaitMs} ms (consumer info); broker redeliveries ${ci.num_redelivered} (in-progress acks keep the claim)`,
    });
    expect(ackWaitMs).toBe(2000);
    // The stand-in's 5 s delay, as measured for each of the 4 answered POSTs (a timer may fire a millisecond early).
    expect(answerMs).toHaveLength(4);
    expect(Math.min(...answerMs)).toBeGreaterThanOrEqual(4900);
    expect(hooks.posts).toBe(4);
    expect(ci.num_redelivered).toBe(0);
    expect(c.posts!.duplicates).toBe(0);
    expect(c.turns!.duplicates).toBe(0);
    expect(c.lost).toBe(0);
  });
});
