/**
 * The web view on a secure mesh (nkey users, least privilege): `mesh web` with nova's own
 * credential shows what nova may see. Each "not visible" carries nats-server's own refusal.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { sendMessage } from "../../src/bus/publish.js";
import { submitJob } from "../../src/features/jobs/client.js";
import { Kvm } from "@nats-io/kv";
import { signerFromSeed } from "../../subjects/mod.js";
import { parseCredential } from "../../broker/credentials.js";
import { provision } from "../../broker/provision.js";
import type { Snapshot } from "../../src/ops/web/model.js";
import { mesh, MESH_BIN } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { childEnv } from "../support/browser.js";
import { until } from "../support/sidecar.js";

let home: string;
let state: string;
let server: string;
let admin: NatsConnection;
let web: ChildProcess;
let webUrl: string;
const creds = (id: string): string => join(state, "creds", `${id}.nk`);

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "mesh-web-sec-"));
  const port = await freePort();
  server = `nats://127.0.0.1:${port}`;
  const env = { MESH_HOME: home, MESH_SERVER: server };
  state = join(home, "broker");
  const up = await mesh(["broker", "up", "--port", String(port), "--monitor-port", String(await freePort()), "--detach"], { env });
  expect(up.code, up.stderr).toBe(0);
  expect((await mesh(["broker", "init"], { env })).code).toBe(0);
  for (const id of ["nova", "clawd"]) expect((await mesh(["broker", "add-identity", id], { env })).code).toBe(0);
  admin = await connectMesh({ server, creds: join(state, "admin.nk") });
  await provision(admin, { identities: ["nova", "clawd"] });
  const cfg = join(home, "nova.json");
  writeFileSync(cfg, JSON.stringify({ identity: "nova", server, creds: creds("nova") }), { mode: 0o600 });
  const webPort = await freePort();
  web = spawn(process.execPath, [MESH_BIN, "web", "--port", String(webPort)], { env: childEnv({ MESH_CONFIG: cfg, MESH_HOME: home }), stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  web.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  webUrl = await until("mesh web's URL", () => /web: (http\S+)/.exec(out)?.[1]);
}, 60_000);

afterAll(async () => {
  if (web && web.exitCode === null) {
    const exited = once(web, "exit");
    web.kill("SIGTERM");
    await exited;
  }
  await admin?.close();
  try {
    process.kill(Number(readFileSync(join(state, "nats-server.pid"), "utf8")), "SIGTERM");
  } catch {
    /* gone */
  }
});

const snapshot = async (): Promise<Snapshot> => (await (await fetch(new URL("/api/state", webUrl))).json()) as Snapshot;

describe("mesh web with nova's own credential on a secure mesh", () => {
  it("shows nova's own inbox depth and its oldest message's time; clawd's inbox (clawd known from the registry) and other inboxes' messages as not visible, each in nats-server's own words", async () => {
    const asClawd = await connectMesh({ server, creds: creds("clawd"), identity: "clawd" });
    const sent = await sendMessage(asClawd, { from: "clawd", to: "nova", body: "for nova only" });
    await sendMessage(asClawd, { from: "clawd", to: "clawd", body: "clawd's own" });
    await asClawd.close();
    let last: Snapshot | undefined;
    const s = await until(`both inboxes read (or refused); last seen: ${JSON.stringify(last?.nodes)}`, async () => {
      const snap = (last = await snapshot());
      const nodes = Object.fromEntries(snap.nodes.map((n) => [n.identity, n]));
      return nodes.nova?.inbox?.visible && nodes.nova.inbox.waiting === 1 && nodes.nova.inbox.oldestWaiting && nodes.clawd?.inbox && nodes.clawd.inbox.visible === false ? snap : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; last snapshot: nodes ${JSON.stringify(last?.nodes)}, visibility ${JSON.stringify(last?.visibility)}`);
    });
    const nodes = Object.fromEntries(s.nodes.map((n) => [n.identity, n]));
    // Depth from its own consumer; the oldest message's time from a direct get on its own inbox stream.
    expect(nodes.nova!.inbox).toEqual({ visible: true, waiting: 1, inFlight: 0, oldestWaiting: expect.any(String) });
    const stored = Date.parse((nodes.nova!.inbox as { oldestWaiting: string }).oldestWaiting);
    expect(Math.abs(stored - Date.parse(sent.envelope.time))).toBeLessThan(5000);
    expect(nodes.clawd!.inbox).toEqual({
      visible: false,
      why: "not visible to this identity",
      serverSaid: expect.stringMatching(/^Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\.INBOX-clawd\.inbox-clawd"/),
    });
    expect(s.visibility.flows).toBe(false);
    expect(s.visibility.note).toMatch(/Permissions Violation for Subscription to "agent\.\*\.inbox\.\*"/);
    // nova never saw the message itself: no flow with its body, and no body to reveal.
    expect(s.flows.find((f) => f.id === sent.envelope.id)).toBeUndefined();
    expect((await fetch(new URL(`/api/body/${sent.envelope.id}`, webUrl))).status).toBe(404);
    expect(JSON.stringify(s)).not.toContain("for nova only");
    expect(s.broker.status).toBe("connected");
  });

  it("a job record forged by nova (a run signed with nova's key, claiming clawd wrote it) is shown as an unreadable, refused record, never as the job's state; clawd's own signed record is shown", async () => {
    const asClawd = await connectMesh({ server, creds: creds("clawd"), identity: "clawd" });
    const job = await submitJob(asClawd, { from: "clawd", task: "tidy the logs", queue: "ops" });
    await until("clawd's signed record on the page", async () => (await snapshot()).jobs.find((j) => j.id === job.id && j.state === "queued"));
    const asNova = await connectMesh({ server, creds: creds("nova"), identity: "nova" });
    const novaSigner = signerFromSeed(parseCredential(readFileSync(creds("nova"), "utf8"))!.seed);
    const forged = novaSigner.signRecord({
      kind: "run" as const,
      id: job.id,
      submittedBy: "clawd",
      worker: "clawd",
      claim: { seq: job.seq!, delivery: 1 },
      state: "cancelled" as const,
      startedAt: new Date().toISOString(),
      error: "rm -rf done",
      prev: 0,
      by: "clawd",
      sig: undefined,
    });
    await (await new Kvm(asNova).open("mesh-jobs-nova")).create(`run.${job.id}`, JSON.stringify(forged));
    const refused = await until("the refused record", async () => (await snapshot()).activity.find((a) => a.unreadable && a.subject === `$KV.mesh-jobs-nova.run.${job.id}`));
    expect(refused.text).toBe("unreadable event (job record refused: signature does not match clawd's key (forged record?))");
    const s = await snapshot();
    expect(s.jobs.find((j) => j.id === job.id)?.state).toBe("queued");
    expect(JSON.stringify(s)).not.toContain("rm -rf done");
    await asClawd.close();
    await asNova.close();
  });
});
