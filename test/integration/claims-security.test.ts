/**
 * README (Security model): `mesh broker revoke <id>` removes the identity from the registry
 * (`mesh-identities`), so sidecars stop accepting messages signed with its key; TLS (`mesh broker
 * init --tls`) carries a sidecar's traffic. Real nats-server started by `mesh broker up`, real
 * sidecars with their own nkey credentials.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { publishEnvelope } from "../../src/bus/publish.js";
import { parseCredential } from "../../broker/credentials.js";
import { BUCKETS, dlqStreamName } from "../../subjects/names.js";
import { inboxSubject, newEnvelope, signerFromSeed } from "../../subjects/mod.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { mesh } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { storedEnvelopes, testSidecar, until } from "../support/sidecar.js";

/** A broker started by `mesh broker up --detach` in a temporary MESH_HOME; stopped by its pid file. */
async function meshBroker(o: { tls?: boolean } = {}) {
  const home = mkdtempSync(join(tmpdir(), "mesh-claims-sec-"));
  const port = await freePort();
  const monitorPort = await freePort();
  const server = `${o.tls ? "tls" : "nats"}://127.0.0.1:${port}`;
  const env: Record<string, string> = { MESH_HOME: home, MESH_SERVER: server };
  const state = join(home, "broker");
  const init = await mesh(["broker", "init", ...(o.tls ? ["--tls"] : [])], { env });
  expect(init.code, init.stderr).toBe(0);
  if (o.tls) env.MESH_TLS_CA = join(state, "tls", "ca.pem");
  const up = await mesh(["broker", "up", "--port", String(port), "--monitor-port", String(monitorPort), "--detach"], { env });
  expect(up.code, up.stderr + up.stdout).toBe(0);
  return {
    home,
    server,
    env,
    monitorPort,
    admin: join(state, "admin.nk"),
    creds: (id: string) => join(state, "creds", `${id}.nk`),
    seed: (id: string) => parseCredential(readFileSync(join(state, "creds", `${id}.nk`), "utf8"))!.seed,
    stop: () => {
      try {
        process.kill(Number(readFileSync(join(state, "nats-server.pid"), "utf8")), "SIGTERM");
      } catch {
        /* gone */
      }
    },
  };
}

describe("mesh broker revoke", () => {
  let b: Awaited<ReturnType<typeof meshBroker>>;
  let admin: NatsConnection;
  let hooks: HooksEndpoint;
  let nova: Sidecar | undefined;

  beforeAll(async () => {
    b = await meshBroker();
    for (const id of ["nova", "clawd", "lyra"]) expect((await mesh(["broker", "add-identity", id], { env: b.env })).code).toBe(0);
    admin = await connectMesh({ server: b.server, creds: b.admin });
    hooks = await startHooksEndpoint();
  });

  afterAll(async () => {
    await nova?.stop();
    await admin?.close();
    await hooks?.close();
    b?.stop();
  });

  it("removes the identity's entry from mesh-identities (present with its public key before, deleted after); a message signed with its key is then dead-lettered 'not a registered identity' while a registered sender's is delivered", async () => {
    const kv = await new Kvm(admin).open(BUCKETS.identities);
    const lyraKey = signerFromSeed(b.seed("lyra")).publicKey;
    const before = await kv.get("lyra");
    expect(before?.operation).toBe("PUT");
    expect((JSON.parse(before!.string()) as { publicKey: string }).publicKey).toBe(lyraKey);

    const r = await mesh(["broker", "revoke", "lyra"], { env: b.env });
    expect(r.code, r.stderr).toBe(0);
    expect((await kv.get("lyra"))?.operation).toBe("DEL");
    expect((await kv.get("clawd"))?.operation).toBe("PUT");

    // nova's sidecar (started after the revoke: no cached key) verifies senders against the registry.
    nova = await testSidecar({ identity: "nova", server: b.server, creds: b.creds("nova"), gatewayUrl: hooks.url, hooksToken: hooks.token, jobs: false });
    // lyra can no longer connect, so the admin carries an envelope lyra signed with its (revoked) key.
    const fromLyra = signerFromSeed(b.seed("lyra")).sign(newEnvelope({ from: "lyra", to: "nova", kind: "message", body: "#rv# signed by revoked lyra" }));
    await publishEnvelope(admin, inboxSubject("nova", "lyra"), fromLyra);
    const clawd = await connectMesh({ server: b.server, creds: b.creds("clawd"), identity: "clawd" });
    await publishEnvelope(clawd, inboxSubject("nova", "clawd"), newEnvelope({ from: "clawd", to: "nova", kind: "message", body: "#rv# from registered clawd" }));
    await clawd.close();
    await until("clawd's message delivered", () => hooks.received.find((h) => h.body.message?.includes("from registered clawd")), 15_000);
    const dead = await until("the dead letter", async () => (await storedEnvelopes(admin, dlqStreamName("nova"), "dlq.nova.inbox.*"))[0], 15_000);
    expect(dead.body).toMatchObject({ reason: "sender lyra is not a registered identity", originalId: fromLyra.id });
    expect(hooks.received.filter((h) => h.body.message?.includes("#rv#")).map((h) => h.body.message!.slice(h.body.message!.indexOf("#rv#")))).toEqual(["#rv# from registered clawd"]);
  });
});

describe("TLS with a sidecar", () => {
  let b: Awaited<ReturnType<typeof meshBroker>>;
  let hooks: HooksEndpoint;
  let nova: Sidecar | undefined;
  const savedCa = process.env.MESH_TLS_CA;

  beforeAll(async () => {
    b = await meshBroker({ tls: true });
    for (const id of ["nova", "clawd"]) expect((await mesh(["broker", "add-identity", id], { env: b.env })).code).toBe(0);
    hooks = await startHooksEndpoint();
  });

  afterAll(async () => {
    await nova?.stop();
    await hooks?.close();
    b?.stop();
    if (savedCa === undefined) delete process.env.MESH_TLS_CA;
    else process.env.MESH_TLS_CA = savedCa;
  });

  it("a sidecar on tls:// with MESH_TLS_CA and its own nkey: the server lists its connection with a TLS version; `mesh send` over TLS reaches its gateway; `mesh peers` over TLS shows it online", async () => {
    process.env.MESH_TLS_CA = b.env.MESH_TLS_CA!;
    nova = await testSidecar({ identity: "nova", server: b.server, creds: b.creds("nova"), gatewayUrl: hooks.url, hooksToken: hooks.token, jobs: false });
    // The server's own view of the sidecar's connection (monitoring endpoint /connz).
    const connz = (await (await fetch(`http://127.0.0.1:${b.monitorPort}/connz?auth=1`)).json()) as { connections: Array<{ name?: string; tls_version?: string; authorized_user?: string }> };
    const conn = connz.connections.find((c) => c.name === "mesh-sidecar-nova");
    expect(conn, JSON.stringify(connz.connections.map((c) => c.name))).toBeDefined();
    expect(conn!.tls_version).toMatch(/^1\.[23]$/);
    const sent = await mesh(["send", "nova", "hello over tls", "--creds", b.creds("clawd")], { env: { ...b.env, MESH_IDENTITY: "clawd" } });
    expect(sent.code, sent.stderr).toBe(0);
    const got = await until("delivered to nova's gateway", () => hooks.received.find((h) => h.body.message?.includes("hello over tls")), 15_000);
    expect(got.body.sessionKey).toBe("mesh:clawd");
    const peers = await mesh(["peers", "--json", "--creds", b.creds("clawd")], { env: { ...b.env, MESH_IDENTITY: "clawd" } });
    expect(peers.code, peers.stderr).toBe(0);
    expect((JSON.parse(peers.stdout) as Array<{ identity: string; state: string }>).find((p) => p.identity === "nova")?.state).toBe("online");
  });
});
