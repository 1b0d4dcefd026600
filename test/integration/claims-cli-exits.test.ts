/**
 * README (CLI): `mesh ask` exits 3 when no answer comes in time and 4 when the agent could not
 * answer; `mesh broker status` exits 2 when something is missing. The real CLI (dist/bin/mesh.js)
 * against a real nats-server and a real sidecar.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { findNatsServer, waitForPort } from "../../broker/local.js";
import { BUCKETS, STREAMS, inboxStreamName } from "../../subjects/names.js";
import { inboxOf } from "../../subjects/mod.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { mesh } from "../support/cli.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { freePort } from "../support/ports.js";
import { storedEnvelopes, until } from "../support/sidecar.js";

let m: TestMesh;
let nc: NatsConnection;
let hooks: HooksEndpoint;
let env: Record<string, string>;

beforeAll(async () => {
  m = await startMesh({ provision: { identities: ["nova", "quiet", "clawd"] } });
  ({ nc, gateway: hooks } = m);
  env = { MESH_SERVER: m.broker.url, MESH_HOME: mkdtempSync(join(tmpdir(), "mesh-home-")), MESH_IDENTITY: "clawd" };
});

afterAll(async () => {
  await m?.stop();
});

describe("mesh ask exit codes", () => {
  it("no sidecar answers within --timeout 2s: exit 3, one line naming the question id, and the question is stored in the recipient's inbox", async () => {
    const t0 = Date.now();
    const r = await mesh(["ask", "quiet", "are you there?", "--timeout", "2s"], { env });
    const took = Date.now() - t0;
    expect(r.code).toBe(3);
    const m = /^mesh: no answer from quiet within 2\.0s \(the question ([0-9a-f-]{36}) stays in quiet's inbox; try `mesh peers`\)\n$/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(r.stdout).toBe("");
    expect(took).toBeGreaterThanOrEqual(2000);
    const stored = await storedEnvelopes(nc, inboxStreamName("quiet"), inboxOf("quiet"));
    expect(stored.map((e) => ({ id: e.id, kind: e.kind, from: e.from, body: e.body }))).toEqual([{ id: m![1], kind: "ask", from: "clawd", body: "are you there?" }]);
  });

  describe("a sidecar whose gateway turns cannot be read back (no gateway token)", () => {
    let sidecar: Sidecar;
    beforeAll(async () => {
      sidecar = await m.sidecar("nova", { jobs: false });
    });
    afterAll(async () => {
      await sidecar?.stop();
    });

    it("the ask reaches the gateway as a turn, the sidecar answers status error: exit 4 with the sidecar's reason on one line", async () => {
      const r = await mesh(["ask", "nova", "what is 2+2?", "--timeout", "20s"], { env });
      expect(r.code).toBe(4);
      expect(r.stderr).toBe("mesh: nova could not answer (error): this sidecar cannot read replies (no gateway token configured)\n");
      expect(r.stdout).toBe("");
      expect(hooks.received.filter((h) => h.body.message?.includes("what is 2+2?"))).toHaveLength(1);
    });

    it("--json: prints status error and the reason, still exit 4", async () => {
      const r = await mesh(["ask", "nova", "and 3+3?", "--timeout", "20s", "--json"], { env });
      expect(r.code).toBe(4);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: "error", reply: "this sidecar cannot read replies (no gateway token configured)" });
    });
  });
});

describe("mesh broker status exit codes", () => {
  it("a JetStream broker with nothing provisioned: exit 2, every stream and bucket reported missing; after `mesh broker provision`: exit 0", async () => {
    const fresh = await startMesh({ provision: false });
    try {
      const e = { ...env, MESH_SERVER: fresh.broker.url };
      const r = await mesh(["broker", "status"], { env: e });
      expect(r.code).toBe(2);
      const names = [...Object.values(STREAMS), ...Object.values(BUCKETS).map((b) => `KV_${b}`)];
      for (const n of names) expect(r.stdout).toMatch(new RegExp(`^  ${n} +missing \\(run: mesh broker provision\\)$`, "m"));
      const j = await mesh(["broker", "status", "--json"], { env: e });
      expect(j.code).toBe(2);
      expect((JSON.parse(j.stdout) as { streams: Array<{ name: string; present: boolean }> }).streams).toEqual(names.map((name) => ({ name, present: false })));
      expect((await mesh(["broker", "provision"], { env: e })).code).toBe(0);
      const after = await mesh(["broker", "status"], { env: e });
      expect(after.code, after.stdout + after.stderr).toBe(0);
      expect(after.stdout).not.toContain("missing");
    } finally {
      await fresh.stop();
    }
  });

  it("a nats-server without JetStream: exit 2, 'JetStream OFF'", async () => {
    const port = await freePort();
    const child: ChildProcess = spawn(findNatsServer(), ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    try {
      await waitForPort("127.0.0.1", port, 10_000);
      const r = await mesh(["broker", "status"], { env: { ...env, MESH_SERVER: `nats://127.0.0.1:${port}` } });
      expect(r.code).toBe(2);
      expect(r.stdout).toMatch(/; JetStream OFF; /);
    } finally {
      child.kill("SIGTERM");
      await until("nats-server exits", () => child.exitCode !== null || child.signalCode !== null, 10_000);
    }
  });
});
