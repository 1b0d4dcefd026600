/**
 * Jobs through the A2A bridge, against two REAL OpenClaw gateways (channels.a2a on), real
 * nats-server, the real `mesh` CLI and a model server on loopback that captures what each model
 * request carries. nova is a worker with capability gpu; clawd submits (its sidecar runs no jobs).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { jobStatus, waitForJob } from "../../src/features/jobs/client.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { openclawHooksAgent } from "../../src/agent/openclaw-hooks/adapter.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { gatewayPorts } from "../support/ports.js";
import { until } from "../support/sidecar.js";
import { startGateway, type Gateway } from "../support/openclaw/gateway.js";
import { startModelServer, type ModelServer } from "../support/openclaw/model-server.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let model: ModelServer;
const gw: Record<string, Gateway> = {};
const sidecars: Record<string, Sidecar> = {};
const asClawd = () => ({ env: { MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" }, timeoutMs: 150_000 });
const peersOf = (g: Gateway): string[] => Object.keys((JSON.parse(readFileSync(g.configFile, "utf8")) as { channels: { a2a: { peers: object } } }).channels.a2a.peers);

beforeAll(async () => {
  execFileSync("bash", [`${root}/test/support/openclaw/install.sh`], { stdio: "inherit" });
  model = await startModelServer();
  model.reply = (r) => {
    // A job's task: the result names it. A job's result arriving back: acknowledged.
    if (/\[mesh job \S+ done on/.test(r.turn)) return "thanks, noted";
    const task = [...r.turn.matchAll(/(?:JOBTASK|NATIVE)-([a-z0-9]+)/g)].at(-1);
    if (task) return `RESULT-${task[1]}`;
    return "ok";
  };
  model.delayFor = (r) => (r.turn.includes("SLOW-") ? 120_000 : 0);
  m = await startMesh();
  ({ broker, nc } = m);
  const [p1, p2] = await gatewayPorts();
  const a2a = { enabled: true, rateLimitPerMinute: 0, replyTimeoutMs: 5000 };
  [gw.nova, gw.clawd] = await Promise.all([startGateway({ port: p1, modelUrl: model.url, a2a }), startGateway({ port: p2, modelUrl: model.url, a2a })]);
  const base = (g: Gateway) => ({ gatewayUrl: g.url, hooksToken: g.hooksToken, gatewayToken: g.gatewayToken, gatewayConfigFile: g.configFile });
  sidecars.nova = await m.sidecar("nova", { ...base(gw.nova!), capabilities: ["gpu"] });
  sidecars.clawd = await m.sidecar("clawd", { ...base(gw.clawd!), jobs: false });
  // Identities and job peers in step (from presence: nova serves queue default with gpu), written before the tests.
  await until("both gateways know the other identity and the job peers jobs.default and jobs.default.gpu", () =>
    peersOf(gw.nova!).includes("clawd") && ["nova", "jobs.default", "jobs.default.gpu"].every((p) => peersOf(gw.clawd!).includes(p)), 45_000);
  await until("both gateways serve /a2a/v1", async () => {
    const codes = await Promise.all([gw.nova!, gw.clawd!].map((g) => fetch(`${g.url}/a2a/v1`, { method: "POST", body: "{}" }).then((r) => r.status, () => 0)));
    return codes.every((c) => c === 401);
  }, 60_000);
  // The last peer write makes the channel reload; let it settle so no task is lost to it.
  await new Promise((r) => setTimeout(r, 6000));
}, 280_000);

afterAll(async () => {
  await m?.stopSidecars().catch(() => undefined);
  await Promise.all(Object.values(gw).map((g) => g.stop()));
  await model?.close();
  await m?.stop();
});

describe("jobs through the A2A bridge (two real gateways)", () => {
  it("a job reaches the worker's model as work from its submitter (task text, sender clawd, its own job-<id> session, the agent's tools; no EXTERNAL_UNTRUSTED_CONTENT, no 'unattended scheduled run'), and `mesh job submit --wait` prints the result", async () => {
    const task = "please run the test suite on the cackles repo JOBTASK-a1";
    const r = await mesh(["job", "submit", task, "--needs", "gpu", "--wait", "--timeout", "120s"], asClawd());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("RESULT-a1");
    const id = /job (\S+) queued/.exec(r.stderr)?.[1];
    expect(id, r.stderr).toMatch(/^[0-9a-f-]{36}$/);
    const req = await model.waitForRequest((q) => q.turn.includes("JOBTASK-a1"), 10_000);
    expect(req.turn).toContain(task);
    expect(req.turn).toContain(`[mesh job ${id} from clawd, queue default, attempt 1; your final reply is the job's result]`);
    expect(req.all).toMatch(/"sender":\{"id":"clawd"/);
    expect(req.all).toContain(`session=agent:main:a2a:default:direct:clawd:job-${id}`);
    expect(req.tools).toEqual(expect.arrayContaining(["exec", "read", "write", "edit"]));
    expect(req.all).not.toContain("EXTERNAL_UNTRUSTED_CONTENT");
    expect(req.all).not.toContain("unattended scheduled run");
    expect(await jobStatus(nc, id!)).toMatchObject({ state: "done", worker: "nova", result: "RESULT-a1", attempts: 1 });
    console.log(`job turn through the A2A channel, as the model is shown it (excerpt):\n${req.turn.slice(0, 900)}\ntools offered: ${req.tools.join(", ")}`);
  });

  it("the same kind of job through /hooks/agent (the fallback when the A2A channel is off) reaches the model as EXTERNAL_UNTRUSTED_CONTENT in an 'unattended scheduled run' (the contrast: the assertions above can fail)", async () => {
    const hooks = openclawHooksAgent({ endpoint: { url: gw.nova!.url, hooksPath: "/hooks", hooksToken: gw.nova!.hooksToken } });
    const res = await hooks.runJob({ id: "0b6f5c0e-1111-4222-8333-944445555666", from: "clawd", queue: "default", task: "please run the test suite on the cackles repo JOBTASK-h1", attempt: 1 });
    expect(res.ok).toBe(true);
    const req = await model.waitForRequest((q) => q.turn.includes("JOBTASK-h1"), 90_000);
    expect(req.all).toContain("EXTERNAL_UNTRUSTED_CONTENT");
    expect(req.all).toContain("unattended scheduled run");
    console.log(`job turn through /hooks/agent, as the model is shown it (excerpt):\n${req.turn.slice(0, 1400)}\ntools offered: ${req.tools.join(", ")}`);
  }, 200_000);

  it("`openclaw message send --channel a2a --target jobs.default.gpu` on clawd's gateway: clawd's sidecar submits it as clawd's job, nova's model runs it, and the result arrives on clawd's model as a message from jobs.default.gpu in the same conversation", async () => {
    const sent = await gw.clawd!.cli(["message", "send", "--channel", "a2a", "--target", "jobs.default.gpu", "-m", "render the charts NATIVE-b1"], 90_000);
    expect(sent.code, `${sent.stdout}\n${sent.stderr}`).toBe(0);
    // On nova: the job's turn, from clawd.
    const work = await model.waitForRequest((q) => q.turn.includes("NATIVE-b1") && q.turn.includes("[mesh job "), 90_000);
    const id = /\[mesh job (\S+) from clawd, queue default, attempt 1;/.exec(work.turn)?.[1];
    expect(id, work.turn).toMatch(/^[0-9a-f-]{36}$/);
    expect(work.all).toContain(`session=agent:main:a2a:default:direct:clawd:job-${id}`);
    const record = await waitForJob(nc, id!, 90_000);
    expect(record).toMatchObject({ state: "done", submittedBy: "clawd", needs: ["gpu"], worker: "nova", result: "RESULT-b1" });
    // Back on clawd: the result, from the job peer, in the conversation the gateway sent it from.
    const back = await model.waitForRequest((q) => q.turn.includes(`[mesh job ${id} done on nova]`), 90_000);
    expect(back.turn).toContain("RESULT-b1");
    expect(back.all).toMatch(/"sender":\{"id":"jobs\.default\.gpu"/);
    expect(back.all).toContain("session=agent:main:a2a:default:direct:jobs.default.gpu:ctx-oc-jobs.default.gpu");
    console.log(`the result as clawd's model is shown it (excerpt):\n${back.turn.slice(0, 700)}`);
  }, 200_000);

  it("cancel of a running job: the worker aborts the gateway's turn with sessions.abort, the model request is cut off, and the record says cancelled with what the gateway answered", async () => {
    const r = await mesh(["job", "submit", "a very long render SLOW-c1", "--needs", "gpu"], asClawd());
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    const req = await model.waitForRequest((q) => q.turn.includes("SLOW-c1"), 90_000);
    expect((await jobStatus(nc, id)).state).toBe("running");
    const c = await mesh(["job", "cancel", id], asClawd());
    expect(c.code, c.stderr).toBe(0);
    const done = await waitForJob(nc, id, 30_000);
    expect(done).toMatchObject({ state: "cancelled", worker: "nova" });
    expect(done.error).toBe(
      `cancelled while running: the gateway aborted the turn (sessions.abort on agent:main:a2a:default:direct:clawd:job-${id}: aborted; its A2A task ended TASK_STATE_COMPLETED)`,
    );
    await until("the gateway closed the model request it was waiting on", () => req.aborted, 10_000);
    console.log(`cancelled job record: ${JSON.stringify(done)}`);
  }, 200_000);
});
