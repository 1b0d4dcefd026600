import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { VERSION } from "../../src/base/version.js";
import { sidecarEventKinds, eventBodies } from "../../subjects/mod.js";
import { peerTurn } from "../../src/agent/openclaw-hooks/turns.js";
import { newEnvelope } from "../../subjects/mod.js";
import { backoffDelay } from "../../src/base/backoff.js";

describe("odds and ends", () => {
  it("VERSION matches package.json", () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    expect(VERSION).toBe(pkg.version);
  });

  it("every event kind has a body schema", () => {
    expect(Object.keys(eventBodies).sort()).toEqual([...sidecarEventKinds].sort());
  });

  it("the turn handed to the gateway names the sender, uses its session, and is idempotent", () => {
    const env = newEnvelope({ from: "clawd", to: "nova", kind: "ask", body: "status?", replyTo: "reply.clawd.x" });
    const { req, ticket } = peerTurn({ id: env.id, from: env.from, kind: "ask", text: "status?" });
    expect(req.message).toContain(`[mesh ask ${env.id}]`);
    expect(req).toMatchObject({ sessionKey: "mesh:clawd", sessionMode: "persistent", deliver: false, idempotencyKey: `mesh-${env.id}` });
    expect(ticket).toEqual({ bridge: "openclaw-hooks", session: "mesh:clawd", ref: `[mesh ask ${env.id}]` });
  });

  it("backoff grows, is capped, and jitters within 20 %", () => {
    const p = { initialMs: 100, maxMs: 1000, factor: 2 };
    for (let i = 0; i < 50; i++) {
      expect(backoffDelay(1, p)).toBeGreaterThanOrEqual(80);
      expect(backoffDelay(1, p)).toBeLessThanOrEqual(120);
      expect(backoffDelay(10, p)).toBeLessThanOrEqual(1200);
      expect(backoffDelay(10, p)).toBeGreaterThanOrEqual(800);
    }
  });
});
