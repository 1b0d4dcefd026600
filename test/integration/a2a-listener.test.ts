/**
 * The opt-in A2A listener beyond loopback (sidecar.a2aHost / a2aPort), on a real nats-server with
 * a sidecar whose gateway config has channels.a2a on (no gateway process: these checks never
 * reach it). Listens on 127.0.0.2 here (the tests talk only to loopback), configured as a name
 * other than 127.0.0.1, so the Host rule is the configured-address one.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { freePort } from "../support/ports.js";
import { until } from "../support/sidecar.js";
import { request } from "node:http";

const CLIENT_TOKEN = "laptop-client-token-0123456789abcdef";
let m: TestMesh;
let port: number;
let gatewayConfig: string;

/** A raw HTTP request with a chosen Host header (fetch does not let a caller set it). */
function get(path: string, o: { host: string; method?: string; token?: string; body?: string; headers?: Record<string, string> }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.2", port, path, method: o.method ?? "GET", headers: { host: o.host, "content-type": "application/json", ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers } },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(o.body);
  });
}

beforeAll(async () => {
  m = await startMesh();
  const dir = mkdtempSync(join(tmpdir(), "mesh-a2a-listener-"));
  gatewayConfig = join(dir, "openclaw.json");
  writeFileSync(gatewayConfig, JSON.stringify({ gateway: { port: await freePort() }, channels: { a2a: { enabled: true } } }), { mode: 0o600 });
  const tokenFile = join(dir, "laptop.token");
  writeFileSync(tokenFile, CLIENT_TOKEN, { mode: 0o600 });
  port = await freePort();
  await m.sidecar("clawd", {
    gatewayUrl: `http://127.0.0.1:${await freePort()}`,
    hooksToken: "unused-hooks-token",
    gatewayConfigFile: gatewayConfig,
    jobs: false,
    a2aClients: [{ name: "laptop", tokenFile }],
    a2aListen: { host: "127.0.0.2", port },
  });
  // nova's sidecar (hooks bridge, no gateway) makes nova present: clawd's sidecar adds it as a peer (an open mesh).
  await m.sidecar("nova", { gatewayUrl: `http://127.0.0.1:${await freePort()}`, hooksToken: "unused-hooks-token", jobs: false });
}, 60_000);

afterAll(async () => {
  await m?.stop();
});

describe("the A2A listener beyond loopback", () => {
  it("serves the sidecar's card; /metrics and /healthz are not there", async () => {
    const card = await get("/.well-known/agent-card.json", { host: `127.0.0.2:${port}` });
    expect(card.status).toBe(200);
    expect(JSON.parse(card.body).name).toBe("openclaw-mesh via clawd");
    for (const p of ["/metrics", "/healthz"]) expect((await get(p, { host: `127.0.0.2:${port}` })).status).toBe(404);
  });

  it("a foreign Host header is refused (421), as on the loopback port", async () => {
    const r = await get("/.well-known/agent-card.json", { host: `attacker.example:${port}` });
    expect([r.status, r.body]).toEqual([421, `wrong Host header: this listener answers only http://127.0.0.2:${port}/\n`]);
  });

  it("nova's card on this listener names this listener's address in its URLs", async () => {
    await until("nova is a peer", () => (JSON.parse(readFileSync(gatewayConfig, "utf8")) as { channels: { a2a: { peers?: Record<string, unknown> } } }).channels.a2a.peers?.nova, 20_000);
    const card = JSON.parse((await get("/a2a/peers/nova/.well-known/agent-card.json", { host: `127.0.0.2:${port}` })).body) as { supportedInterfaces: Array<{ url: string }> };
    expect(card.supportedInterfaces.map((i) => i.url)).toEqual([`http://127.0.0.2:${port}/a2a/peers/nova/v1`, `http://127.0.0.2:${port}/a2a/peers/nova/rest`]);
  });

  it("the gateway's token is refused here (loopback only); a client's token reaches the SDK (Task not found); no token: 401", async () => {
    const peers = await until("nova is a peer of clawd's gateway", () => {
      const p = (JSON.parse(readFileSync(gatewayConfig, "utf8")) as { channels: { a2a: { peers?: Record<string, { outboundToken: string }> } } }).channels.a2a.peers;
      return p?.nova ? p : undefined;
    }, 20_000);
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "nope" } });
    const peer = "nova";
    const asGateway = await get(`/a2a/peers/${peer}/v1`, { host: `127.0.0.2:${port}`, method: "POST", token: peers[peer]!.outboundToken, body });
    expect([asGateway.status, JSON.parse(asGateway.body).error.message]).toEqual([401, "unauthorized: the gateway's token is taken on loopback only; a client off this Mac needs its own token (sidecar.a2aClients)"]);
    const asClient = await get(`/a2a/peers/${peer}/v1`, { host: `127.0.0.2:${port}`, method: "POST", token: CLIENT_TOKEN, body });
    expect(asClient.status).toBe(200);
    expect(JSON.parse(asClient.body).error).toMatchObject({ code: -32001, message: "Task not found: nope" });
    expect((await get(`/a2a/peers/${peer}/v1`, { host: `127.0.0.2:${port}`, method: "POST", body })).status).toBe(401);
  });

  it("A2A-Version: 1.0 (or none, as OpenClaw's channel sends) is served; another version is the SDK's -32009 VersionNotSupported naming 1.0", async () => {
    await until("nova is a peer of clawd's gateway", () => (JSON.parse(readFileSync(gatewayConfig, "utf8")) as { channels: { a2a: { peers?: Record<string, unknown> } } }).channels.a2a.peers?.nova, 20_000);
    const body = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "GetTask", params: { id: "nope" } });
    const at = { host: `127.0.0.2:${port}`, method: "POST", token: CLIENT_TOKEN, body };
    const v10 = await get("/a2a/peers/nova/v1", { ...at, headers: { "A2A-Version": "1.0" } });
    expect(JSON.parse(v10.body).error).toMatchObject({ code: -32001, message: "Task not found: nope" });
    const v03 = await get("/a2a/peers/nova/v1", { ...at, headers: { "A2A-Version": "0.3" } });
    expect(JSON.parse(v03.body).error).toMatchObject({ code: -32009, message: "The requested A2A protocol version '0.3' is not supported. Supported versions: 1.0" });
  });
});
