import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import type { AddressInfo } from "node:net";
import { request } from "node:http";
import { provisionIdentity } from "../../broker/provision.js";
import { jetstreamManager } from "@nats-io/jetstream";
import { sendMessage } from "../../src/bus/publish.js";
import { submitJob } from "../../src/features/jobs/client.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { mesh } from "../support/cli.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { until } from "../support/sidecar.js";

let m: TestMesh;
let nc: NatsConnection;
let sidecar: Sidecar;

beforeAll(async () => {
  m = await startMesh();
  nc = m.nc;
  sidecar = await m.sidecar("nova", { httpPort: 0, capabilities: ["gpu"], jobs: { queues: ["ops"] } });
});

afterAll(async () => {
  await m?.stop();
});

describe("operations", () => {
  it("/healthz and /metrics on loopback", async () => {
    await sendMessage(nc, { from: "clawd", to: "nova", body: "count me" });
    await until("delivered", () => sidecar.inbox.stats.delivered >= 1);
    const base = `http://127.0.0.1:${(sidecar.http!.address() as AddressInfo).port}`;
    const h = await fetch(`${base}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ ok: true, identity: "nova", gateway: "up" });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('mesh_inbox_delivered_total{identity="nova"} 1');
    expect(text).toContain('mesh_inbox_lag{identity="nova"} 0');
    expect(text).toContain('mesh_gateway_up{identity="nova"} 1');
    expect(text).toMatch(/# TYPE mesh_jobs_started_total counter/);
    expect((sidecar.http!.address() as AddressInfo).address).toBe("127.0.0.1");
  });

  it("the sidecar's HTTP port refuses a foreign Host header (DNS rebinding): /healthz, /metrics and the agent card answer 421 to Host attacker.example, /healthz answers 200 to Host 127.0.0.1:<port>", async () => {
    const port = (sidecar.http!.address() as AddressInfo).port;
    const get = (path: string, host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end();
      });
    for (const path of ["/healthz", "/metrics", "/.well-known/agent-card.json"]) {
      expect(await get(path, "attacker.example")).toEqual({ status: 421, body: "wrong Host header: this sidecar answers only http://127.0.0.1:<port>/\n" });
      expect((await get(path, `attacker.example:${port}`)).status).toBe(421);
    }
    expect((await get("/healthz", `127.0.0.1:${port}`)).status).toBe(200);
    expect((await get("/healthz", `localhost:${port}`)).status).toBe(200);
  });

  it("mesh top --once shows peers, inbox depths, jobs and recent events", async () => {
    // lyra was added (its inbox exists) but never started a sidecar.
    await provisionIdentity(await jetstreamManager(nc), "lyra");
    await sendMessage(nc, { from: "clawd", to: "lyra", body: "waiting for lyra" });
    await submitJob(nc, { from: "clawd", task: "needs a tpu", queue: "ops", needs: ["tpu"] });
    const r = await mesh(["top", "--once"], { env: { MESH_SERVER: m.broker.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}nova +online +gateway up/m);
    expect(r.stdout).toMatch(/^ {2}lyra +offline .*inbox +1 waiting/m);
    expect(r.stdout).toMatch(/^JOBS {2}queued 1/m);
    expect(r.stdout).toMatch(/nova message\.delivered/);
  });
});
