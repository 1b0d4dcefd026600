import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { provision, provisionIdentity } from "../../broker/provision.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { sendMessage, publishRaw } from "../../src/bus/publish.js";
import { DeliveredJournal } from "../../src/features/inbox/delivered-journal.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { join } from "node:path";
import { startBroker, type TestBroker } from "../support/broker.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar, storedEnvelopes, until } from "../support/sidecar.js";

let broker: TestBroker;
let nc: NatsConnection;
let hooks: HooksEndpoint;
const running: Sidecar[] = [];
let n = 0;
/** A fresh identity per test keeps inboxes apart on one broker. */
const fresh = (): string => `nova${++n}`;

beforeAll(async () => {
  broker = await startBroker();
  nc = await connectMesh({ server: broker.url });
  await provision(nc);
  hooks = await startHooksEndpoint();
});

afterEach(async () => {
  while (running.length) await running.pop()!.stop("test done");
  hooks.respond = undefined;
  await hooks.start();
});

afterAll(async () => {
  await nc?.close();
  await hooks?.close();
  await broker?.stop();
});

async function sidecar(identity: string, extra: { stateDir?: string } = {}): Promise<Sidecar> {
  const s = await testSidecar({ identity, server: broker.url, gatewayUrl: hooks.url, hooksToken: hooks.token, ...extra });
  running.push(s);
  return s;
}

const texts = (id: string, from?: string) =>
  hooks.received.filter((h) => h.body.sessionKey?.startsWith("mesh:") && h.body.message?.includes(`#${id}#`) && (!from || h.body.sessionKey === `mesh:${from}`));

describe("sidecar: inbox → gateway hooks", () => {
  it("delivers every message once, in per-sender order, with the hooks contract", async () => {
    const me = fresh();
    await sidecar(me);
    for (let i = 0; i < 10; i++) {
      await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# clawd ${i}` });
      await sendMessage(nc, { from: "lyra", to: me, body: `#${me}# lyra ${i}` });
    }
    await until("20 deliveries", () => texts(me).length >= 20);
    await new Promise((r) => setTimeout(r, 300));
    expect(texts(me)).toHaveLength(20);
    for (const from of ["clawd", "lyra"]) {
      const got = texts(me, from).map((h) => h.body.message!.split(`#${me}# `)[1]);
      expect(got).toEqual([...Array(10).keys()].map((i) => `${from} ${i}`));
    }
    const h = texts(me, "clawd")[0]!;
    expect(h.path).toBe("/hooks/agent");
    expect(h.auth).toBe(`Bearer ${hooks.token}`);
    expect(h.body).toMatchObject({ name: "mesh:clawd", sessionKey: "mesh:clawd" });
    expect(h.body.message).toMatch(/^\[mesh\] message from clawd/);
    const delivered = await until("delivered events", async () => {
      const ev = await storedEnvelopes(nc, "EVENTS", `events.${me}.message.delivered`);
      return ev.length >= 20 && ev;
    });
    expect(delivered[0]).toMatchObject({ kind: "event", type: "message.delivered", from: me });
  });

  it("retries 5xx and 429 with backoff, keeps order, delivers once", async () => {
    const me = fresh();
    let failures = 0;
    hooks.respond = (h) => (h.body.message?.includes("first") && failures++ < 3 ? { status: failures === 2 ? 429 : 503 } : undefined);
    const s = await sidecar(me);
    await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# first` });
    await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# second` });
    await until("both delivered", () => texts(me).length >= 2);
    expect(texts(me).map((h) => h.body.message!.split(`#${me}# `)[1])).toEqual(["first", "second"]);
    expect(failures).toBe(4);
    expect(s.inbox.stats.retried).toBe(3);
    const retried = await until("retried event", async () => {
      const ev = await storedEnvelopes(nc, "EVENTS", `events.${me}.message.retried`);
      return ev.length >= 1 && ev;
    });
    expect(retried[0]!.body).toMatchObject({ attempt: 1, reason: "HTTP 503 status 503" });
  });

  it("gateway down: messages wait, then arrive once, in order", async () => {
    const me = fresh();
    await hooks.stop();
    const s = await sidecar(me);
    for (let i = 0; i < 5; i++) await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# m${i}` });
    await until("gateway seen down", () => s.gatewayStatus === "down");
    await new Promise((r) => setTimeout(r, 1500));
    expect(texts(me)).toHaveLength(0);
    await hooks.start();
    await until("5 deliveries", () => texts(me).length >= 5, 30_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(texts(me).map((h) => h.body.message!.split(`#${me}# `)[1])).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(s.gatewayStatus).toBe("up");
    const kinds = (await storedEnvelopes(nc, "EVENTS", `events.${me}.gateway.>`)).map((e) => e.type);
    expect(kinds).toEqual(["gateway.unreachable", "gateway.reachable"]);
  });

  it("401 and 400 are dead-lettered with the reason; the sidecar keeps going", async () => {
    const me = fresh();
    hooks.respond = (h) =>
      h.body.message?.includes("bad-token") ? { status: 401, body: { ok: false, error: "Unauthorized" } } : h.body.message?.includes("bad-body") ? { status: 400, body: { ok: false, error: "message required" } } : undefined;
    const s = await sidecar(me);
    await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# bad-token` });
    await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# bad-body` });
    await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# fine` });
    await until("the good one delivered", () => texts(me).length >= 1);
    const dead = await until("2 dead letters", async () => {
      const d = await storedEnvelopes(nc, `DLQ-${me}`, `dlq.${me}.inbox.*`);
      return d.length >= 2 && d;
    });
    expect(dead.map((d) => (d.body as { reason: string }).reason)).toEqual([
      "gateway refused it: HTTP 401 Unauthorized",
      "gateway refused it: HTTP 400 message required",
    ]);
    // The POST was received before the sidecar journaled and counted it: wait for the count.
    await until("the delivery counted", () => s.inbox.stats.delivered === 1);
    expect(s.inbox.stats).toMatchObject({ delivered: 1, deadLettered: 2 });
  });

  it("bad input on the inbox is dead-lettered, never delivered", async () => {
    const me = fresh();
    const s = await sidecar(me);
    const subject = `agent.${me}.inbox.clawd`;
    await publishRaw(nc, subject, new TextEncoder().encode("not json at all"));
    await publishRaw(nc, subject, new TextEncoder().encode(JSON.stringify({ v: 9, id: "x" })));
    await publishRaw(nc, subject, new TextEncoder().encode(JSON.stringify({ v: 1, id: "abcdefgh", from: "clawd" })));
    await sendMessage(nc, { from: "clawd", to: "someone-else", body: "misrouted" }).catch(() => undefined);
    // A message addressed to another identity but published on this inbox.
    await publishRaw(
      nc,
      subject,
      new TextEncoder().encode(JSON.stringify({ v: 1, id: "misrouted-1", from: "clawd", to: "other", time: new Date().toISOString(), kind: "message", body: "x" })),
    );
    await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# after the junk` });
    await until("the good one delivered", () => texts(me).length >= 1);
    const reasons = (await until("4 dead letters", async () => {
      const d = await storedEnvelopes(nc, `DLQ-${me}`, `dlq.${me}.inbox.*`);
      return d.length >= 4 && d;
    })).map((d) => (d.body as { reason: string }).reason);
    expect(reasons[0]).toBe("invalid envelope: not JSON");
    expect(reasons[1]).toMatch(/unsupported envelope version 9/);
    expect(reasons[2]).toMatch(/^invalid envelope: wrong shape: /);
    expect(reasons[3]).toBe(`addressed to other, not ${me}`);
    // Counted once the gateway's answer is in (just after the stand-in saw the turn): waited for, then exact.
    await until("the delivery counted", () => s.inbox.stats.delivered >= 1, 5000);
    expect(s.inbox.stats.delivered).toBe(1);
  });

  it("a message already journaled as delivered is acked without a second POST", async () => {
    const me = fresh();
    const stateDir = (await import("node:fs")).mkdtempSync(join((await import("node:os")).tmpdir(), "mesh-j-"));
    // Its inbox exists before its sidecar ever ran (as after `mesh broker add-identity`).
    await provisionIdentity(await jetstreamManager(nc), me);
    const sent = await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# once` });
    // As if a previous run POSTed it and crashed before the ack.
    const j = new DeliveredJournal(join(stateDir, "delivered.log"));
    await j.record(sent.id!);
    j.close();
    await sendMessage(nc, { from: "clawd", to: me, body: `#${me}# next` });
    const s = await sidecar(me, { stateDir });
    await until("next delivered", () => texts(me).length >= 1);
    expect(texts(me).map((h) => h.body.message!.split(`#${me}# `)[1])).toEqual(["next"]);
    expect(s.inbox.stats.duplicatesSkipped).toBe(1);
  });
});
