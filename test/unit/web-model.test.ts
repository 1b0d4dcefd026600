import { describe, expect, it } from "vitest";
import { MeshModel } from "../../src/ops/web/model.js";
import { encodeEnvelope, newEnvelope } from "../../subjects/mod.js";

const enc = (s: string) => new TextEncoder().encode(s);
const event = (from: string, type: string, body: unknown) => encodeEnvelope(newEnvelope({ from, to: "*", kind: "event", type, body }));

function model(now: { t: number }) {
  return new MeshModel({ self: "clawd", staleAfterMs: 2_000, offlineAfterMs: 5_000, now: () => now.t });
}

describe("web view model", () => {
  it("a non-JSON event, a body that does not match its kind and a from that is not the subject's owner are each one unreadable event: counted, listed, never a flow or an alert", () => {
    const m = model({ t: Date.now() });
    m.event("events.clawd.x", enc("not json{"));
    m.event("events.nova.message.delivered", event("nova", "message.delivered", { id: 42 }));
    m.event("events.nova.peer.down", event("clawd", "peer.down", { peer: "x", lastSeen: "now" }));
    const s = m.snapshot();
    expect(s.counters).toMatchObject({ events: 3, unreadable: 3, delivered: 0 });
    expect(s.activity.map((a) => a.unreadable)).toEqual([true, true, true]);
    expect(s.activity.map((a) => a.text)).toEqual([
      expect.stringMatching(/^unreadable event \(/),
      "unreadable event (body of message.delivered does not match its schema)",
      "unreadable event (from clawd on nova's subject)",
    ]);
    expect(s.flows).toEqual([]);
    expect(s.alerts).toEqual([]);
    // A valid event after them is read as usual.
    m.event("events.nova.peer.down", event("nova", "peer.down", { peer: "x", lastSeen: "2026-01-01T00:00:00Z" }));
    expect(m.snapshot().alerts).toHaveLength(1);
    expect(m.snapshot().counters).toMatchObject({ events: 4, unreadable: 3 });
  });

  it("presence ages by the clock: online, stale after staleAfterMs, offline after offlineAfterMs; a deleted entry is offline at once", () => {
    const now = { t: Date.parse("2026-11-25T10:00:00Z") };
    const m = model(now);
    const beat = (id: string) =>
      JSON.stringify({ identity: id, host: `${id}-mac`, version: "0.1.0", capabilities: ["gpu"], gateway: "up", startedAt: new Date(now.t).toISOString(), lastSeen: new Date(now.t).toISOString(), bridge: "openclaw-hooks" });
    m.presenceChanged("nova", beat("nova"));
    m.presenceChanged("clawd", beat("clawd"));
    const state = () => Object.fromEntries(m.snapshot().nodes.map((n) => [n.identity, n.state]));
    expect(state()).toEqual({ clawd: "online", nova: "online" });
    expect(m.snapshot().nodes.find((n) => n.identity === "nova")).toMatchObject({ host: "nova-mac", capabilities: ["gpu"], gateway: "up", bridge: "openclaw-hooks", self: false });
    now.t += 3_000;
    m.tick();
    expect(state()).toEqual({ clawd: "stale", nova: "stale" });
    m.presenceChanged("clawd", undefined);
    expect(state()).toEqual({ clawd: "offline", nova: "stale" });
    now.t += 3_000;
    m.tick();
    expect(state()).toEqual({ clawd: "offline", nova: "offline" });
  });

  it("a message on an inbox is a flow with its size and a hidden body; message.delivered makes it delivered and counts in the chart; a retried arriving later does not undo it; a retried one delivered later drops the retry reason", () => {
    const m = model({ t: Date.now() });
    const env = newEnvelope({ from: "clawd", to: "nova", kind: "message", body: "secret plans" });
    const bytes = encodeEnvelope(env);
    m.inboxMessage("agent.nova.inbox.clawd", bytes);
    m.drain();
    expect(m.snapshot().flows).toEqual([expect.objectContaining({ id: env.id, from: "clawd", to: "nova", kind: "message", size: bytes.length, state: "sent", body: "hidden" })]);
    expect(JSON.stringify(m.snapshot())).not.toContain("secret plans");
    expect(m.body(env.id)).toBe("secret plans");
    m.event("events.nova.message.delivered", event("nova", "message.delivered", { id: env.id, from: "clawd", seq: 1, attempts: 1, latencyMs: 12 }));
    m.event("events.nova.message.retried", event("nova", "message.retried", { id: env.id, from: "clawd", seq: 1, attempt: 2, reason: "late", nextDelayMs: 1 }));
    const batch = m.drain();
    expect(batch?.flows).toEqual([expect.objectContaining({ id: env.id, state: "delivered", latencyMs: 12, attempts: 1 })]);
    // Retried, then delivered: the retry's reason does not stay on a delivered message.
    const second = newEnvelope({ from: "clawd", to: "nova", kind: "message", body: "again" });
    m.inboxMessage("agent.nova.inbox.clawd", encodeEnvelope(second));
    m.event("events.nova.message.retried", event("nova", "message.retried", { id: second.id, from: "clawd", seq: 2, attempt: 1, reason: "HTTP 503 busy", nextDelayMs: 250 }));
    expect(m.snapshot().flows.find((f) => f.id === second.id)).toMatchObject({ state: "retried", reason: "HTTP 503 busy" });
    m.event("events.nova.message.delivered", event("nova", "message.delivered", { id: second.id, from: "clawd", seq: 2, attempts: 2, latencyMs: 300 }));
    const delivered = m.snapshot().flows.find((f) => f.id === second.id);
    expect(delivered).toMatchObject({ state: "delivered", attempts: 2 });
    expect(delivered).not.toHaveProperty("reason");
    const chart = m.snapshot().chart;
    expect(chart).toHaveLength(60);
    expect(chart.at(-1)).toMatchObject({ deliveries: 2, latencyAvgMs: 156, latencyMaxMs: 300 });
    expect(m.snapshot().counters).toMatchObject({ delivered: 2, messages: 2, unreadable: 0 });
  });

  it("alerts: peer down/up and gateway unreachable; gateway reachable only after it was unreachable", () => {
    const m = model({ t: Date.now() });
    m.event("events.nova.gateway.reachable", event("nova", "gateway.reachable", { url: "http://127.0.0.1:18789" }));
    expect(m.snapshot().alerts).toEqual([]);
    m.event("events.nova.gateway.unreachable", event("nova", "gateway.unreachable", { url: "http://127.0.0.1:18789", reason: "ECONNREFUSED" }));
    m.event("events.nova.gateway.reachable", event("nova", "gateway.reachable", { url: "http://127.0.0.1:18789" }));
    m.event("events.clawd.peer.down", event("clawd", "peer.down", { peer: "nova", lastSeen: "2026-11-25T10:00:00Z" }));
    expect(m.snapshot().alerts.map((a) => [a.level, a.text])).toEqual([
      ["warn", "nova's gateway is unreachable: ECONNREFUSED"],
      ["ok", "nova's gateway is reachable again"],
      ["warn", "nova is offline (last seen 2026-11-25T10:00:00Z; reported by clawd)"],
    ]);
  });

  it("the same event seen twice (replayed and live) is counted once", () => {
    const m = model({ t: Date.now() });
    const e = event("nova", "sidecar.stopped", { reason: "SIGTERM" });
    m.event("events.nova.sidecar.stopped", e);
    m.event("events.nova.sidecar.stopped", e);
    expect(m.snapshot().counters.events).toBe(1);
  });

  it("job records: a failed job keeps its reason and worker; a record that does not match its schema is an unreadable event", () => {
    const m = model({ t: Date.now() });
    m.jobChanged("j1", JSON.stringify({ id: "j1", task: "t", queue: "default", needs: [], state: "failed", submittedBy: "clawd", submittedAt: "2026-11-25T10:00:00Z", worker: "nova", attempts: 2, error: "HTTP 400 bad agent" }));
    m.jobChanged("j2", JSON.stringify({ id: "j2", state: "sideways" }));
    expect(m.snapshot().jobs).toEqual([expect.objectContaining({ id: "j1", state: "failed", worker: "nova", error: "HTTP 400 bad agent" })]);
    expect(m.snapshot().counters.unreadable).toBe(1);
    m.jobChanged("j1", undefined);
    expect(m.drain()?.removedJobs).toEqual(["j1"]);
  });

  it("an inbox this identity may not read is shown as not visible, with no numbers", () => {
    const m = model({ t: Date.now() });
    m.inboxChanged("nova", { visible: false, why: "not visible to this identity" });
    m.inboxChanged("clawd", { visible: true, waiting: 3, inFlight: 1, oldestWaiting: "2026-11-25T10:00:00.000Z" });
    const nodes = Object.fromEntries(m.snapshot().nodes.map((n) => [n.identity, n.inbox]));
    expect(nodes).toEqual({ nova: { visible: false, why: "not visible to this identity" }, clawd: { visible: true, waiting: 3, inFlight: 1, oldestWaiting: "2026-11-25T10:00:00.000Z" } });
  });
});
