/**
 * Hook rules in leaf mode (README "Offline-first Macs"): nova's sidecar on Mac nova has a rule on
 * orion's build events. Its copy of the events (HOOKS-nova) lives on nova's own leaf server, sourced
 * from the hub's EVENTS through the link, so its rule consumer is on the server it reads: nothing
 * consumes across the link. Real nats-servers (a hub and two leaves, each link through a TCP proxy).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { startLeafMesh, type LeafMesh } from "../support/leaf-mesh.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar, until } from "../support/sidecar.js";
import { consumersOf } from "../../broker/leaf-provision.js";
import { publishEnvelope } from "../../src/bus/publish.js";
import { eventSubject, newEnvelope } from "../../subjects/mod.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";

let mesh: LeafMesh;
let hooks: HooksEndpoint;
let nova: Sidecar;

/** The turns nova's rule started for a build status (the rule's text quotes the event's values as data). */
const fired = (status: string): number =>
  hooks.received.filter((h) => h.body.sessionKey === "mesh:hook-orion-builds" && String(h.body.message).endsWith(`orion build "${status}"`)).length;

beforeAll(async () => {
  mesh = await startLeafMesh({ nova: ["nova"], orion: ["orion"] });
  hooks = await startHooksEndpoint();
  nova = await testSidecar({
    identity: "nova",
    server: mesh.macs.nova!.leaf.url,
    gatewayUrl: hooks.url,
    hooksToken: hooks.token,
    jobs: false,
    leaf: mesh.macs.nova!.config,
    hooks: [{ name: "orion-builds", on: "events.orion.build", action: { type: "agent", message: "orion build {{body.status}}" } }],
  });
});

afterAll(async () => {
  await nova?.stop("test done").catch(() => undefined);
  await hooks?.close();
  await mesh?.close();
});

describe("hook rules in leaf mode", () => {
  it("an event published on Mac orion fires nova's rule on Mac nova; HOOKS-nova and the rule's consumer are on nova's leaf, and the hub holds no consumer", async () => {
    const novaJsm = await jetstreamManager(await mesh.client("nova"));
    const hooksInfo = await novaJsm.streams.info("HOOKS-nova");
    expect(hooksInfo.config.sources?.map((s) => [s.name, s.external?.api])).toEqual([["EVENTS", "$JS.hub.API"]]);
    expect(await consumersOf(novaJsm)).toContain("HOOKS-nova/hook-nova-orion-builds");

    const orion = await mesh.client("orion");
    const ack = await publishEnvelope(orion, eventSubject("orion", "build"), newEnvelope({ from: "orion", to: "*", kind: "event", type: "build", body: { status: "green-1" } }));
    expect(ack.stream).toBe("EVENTS-orion"); // stored on orion's own leaf first
    await until("nova's rule fired for orion's build", () => fired("green-1") > 0, 20_000);
    // Sources and mirrors use internal consumers: none is listed on the hub.
    expect(await consumersOf(await jetstreamManager(mesh.admin))).toEqual([]);
  });

  it("an event orion publishes while its link is cut fires nova's rule once the link is back, once", async () => {
    const orion = await mesh.client("orion");
    mesh.macs.orion!.proxy.reset();
    const ack = await publishEnvelope(orion, eventSubject("orion", "build"), newEnvelope({ from: "orion", to: "*", kind: "event", type: "build", body: { status: "offline-2" } }));
    expect(ack.stream).toBe("EVENTS-orion"); // acknowledged on orion's leaf with the link down
    await new Promise((r) => setTimeout(r, 3000));
    expect(fired("offline-2")).toBe(0);
    mesh.macs.orion!.proxy.up();
    await until("nova's rule fired for the build orion published offline", () => fired("offline-2") > 0, 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(fired("offline-2")).toBe(1);
    expect(fired("green-1")).toBe(1);
  });
});
