import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { A2APeerTable } from "../../src/agent/openclaw-a2a/peers.js";

/**
 * The peer table and who a token belongs to, without a gateway or a broker (the A2A server on
 * these tokens: test/integration/a2a-bridge.test.ts and a2a-sdk-interop.test.ts).
 */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), "mesh-a2a-unit-"));
  const configFile = join(dir, "openclaw.json");
  writeFileSync(configFile, JSON.stringify({ gateway: { port: 18789 }, channels: { a2a: { enabled: true, peers: { hermes: { token: "by-hand-token-0123456789", url: "https://hermes.example/a2a/v1" } } } } }));
  const table = new A2APeerTable(join(dir, "state"), configFile, "http://127.0.0.1:9469");
  return { configFile, table };
}

describe("A2A peer table", () => {
  it("sync writes one peer entry per mesh identity into openclaw.json, keeps hand-added peers, removes departed ones", () => {
    const { configFile, table } = setup();
    expect(table.sync(["nova", "clawd"])).toMatchObject({ added: ["nova", "clawd"], removed: [], wrote: true });
    let peers = JSON.parse(readFileSync(configFile, "utf8")).channels.a2a.peers;
    expect(Object.keys(peers).sort()).toEqual(["clawd", "hermes", "nova"]);
    expect(peers.nova).toEqual({ token: table.inboundToken("nova"), url: "http://127.0.0.1:9469/a2a/peers/nova/v1", outboundToken: expect.any(String) });
    expect(table.sync(["nova", "clawd"])).toMatchObject({ added: [], removed: [], wrote: false });
    expect(table.sync(["nova"])).toMatchObject({ removed: ["clawd"], wrote: true });
    peers = JSON.parse(readFileSync(configFile, "utf8")).channels.a2a.peers;
    expect(Object.keys(peers).sort()).toEqual(["hermes", "nova"]);
    expect(peers.hermes.token).toBe("by-hand-token-0123456789");
  });

  it("the gateway config and its backup hold the peers' tokens: a 0644 openclaw.json (and a 0644 backup left by an earlier version) are made 0600 by the sync (also when it has nothing to write), and the result names what was tightened", () => {
    const { configFile, table } = setup();
    chmodSync(configFile, 0o644);
    const first = table.sync(["nova"]);
    expect(first.tightened).toEqual([`${configFile} (was 644)`]);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    expect(statSync(`${configFile}.mesh-backup`).mode & 0o777).toBe(0o600);
    chmodSync(`${configFile}.mesh-backup`, 0o644);
    chmodSync(configFile, 0o640);
    expect(table.sync(["nova", "clawd"]).tightened).toEqual([`${configFile}.mesh-backup (was 644)`, `${configFile} (was 640)`]);
    expect([statSync(configFile).mode & 0o777, statSync(`${configFile}.mesh-backup`).mode & 0o777]).toEqual([0o600, 0o600]);
    expect(table.sync(["nova", "clawd"])).toMatchObject({ wrote: false, tightened: [] });
    // Widened again with no peer change: the next sync (every few seconds) still tightens it.
    chmodSync(configFile, 0o644);
    expect(table.sync(["nova", "clawd"])).toMatchObject({ wrote: false, tightened: [`${configFile} (was 644)`] });
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
  });

  it("callerOf names the gateway for its outbound token and a configured client for its token; any other token, the inbound token, a hand-added peer's token and an unknown peer get no caller", () => {
    const { configFile, table } = setup();
    table.sync(["nova"]);
    const gatewayToken = JSON.parse(readFileSync(configFile, "utf8")).channels.a2a.peers.nova.outboundToken as string;
    table.clients = [{ name: "curl", token: "curl-client-token-0123456789" }];
    expect(table.callerOf("nova", gatewayToken)).toBe("gateway");
    expect(table.callerOf("nova", "curl-client-token-0123456789")).toBe("curl");
    expect(table.callerOf("nova", "not-a-token")).toBeUndefined();
    // The inbound token (what the sidecar shows the gateway) is not an outbound one.
    expect(table.callerOf("nova", table.inboundToken("nova")!)).toBeUndefined();
    expect(table.callerOf("hermes", "by-hand-token-0123456789")).toBeUndefined();
    expect(table.callerOf("me", gatewayToken)).toBeUndefined();
  });
});

describe("a turn's final text as a reply (the same on both bridges)", () => {
  it("an answer passes; empty, NO_REPLY and OpenClaw's 'couldn't generate' are silence; 'couldn't produce or deliver' is a failed run", async () => {
    const { replyFromText } = await import("../../src/agent/reply.js");
    expect(replyFromText("42 tests passed")).toEqual({ status: "ok", text: "42 tests passed" });
    for (const t of ["", "  \n", "NO_REPLY", " NO_REPLY\n", "⚠️ Agent couldn't generate a response. Please try again."]) expect(replyFromText(t)).toEqual({ status: "ok", text: "", silent: true });
    expect(replyFromText("⚠️ OpenClaw couldn't produce or deliver a reply.")).toEqual({ status: "error", error: "the gateway ended the run without an answer: ⚠️ OpenClaw couldn't produce or deliver a reply." });
    expect(replyFromText("NO_REPLY is what I would say, but here is the answer")).toEqual({ status: "ok", text: "NO_REPLY is what I would say, but here is the answer" });
  });
});
