/**
 * Jobs in leaf mode (README "Offline-first Macs"): jobs and their records live on the hub. A Mac's
 * worker pulls its granted consumers of the hub's JOBS through the hub's JetStream domain, across
 * the link, and the job's record keeps a job that comes again after a cut from running twice.
 * Real nats-servers: a hub and two leaves, each link through a TCP proxy; the Macs' leaf credentials
 * carry the permissions `mesh broker add-mac` renders.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errors, type NatsConnection } from "@nats-io/nats-core";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import { startLeafMesh, type LeafMesh } from "../support/leaf-mesh.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar, until } from "../support/sidecar.js";
import { sleep } from "../../src/base/backoff.js";
import { jobStatus, submitJob, waitForJob } from "../../src/features/jobs/client.js";
import { HUB_DOMAIN, STREAMS } from "../../subjects/names.js";
import { connectMesh } from "../../src/bus/connection.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";

let mesh: LeafMesh;
let hooks: HooksEndpoint;
let orion: Sidecar;

/** The POSTs orion's stand-in gateway got for job `id`. */
/** A client on Mac `mac`'s leaf server as `id` (the hub answers a leaf only under its identities' own inbox prefix). */
const clients: NatsConnection[] = [];
async function clientOf(mac: string, id: string): Promise<NatsConnection> {
  const nc = await connectMesh({ server: mesh.macs[mac]!.leaf.url, hubDomain: HUB_DOMAIN, identity: id, persistent: true, name: `leaf-jobs-${id}` });
  clients.push(nc);
  return nc;
}

const runsOf = (id: string): number => hooks.received.filter((h) => h.body.message?.includes(`[mesh job ${id}]`)).length;

beforeAll(async () => {
  mesh = await startLeafMesh({ nova: ["nova"], orion: ["orion"] });
  hooks = await startHooksEndpoint();
  orion = await testSidecar({
    identity: "orion",
    server: mesh.macs.orion!.leaf.url,
    gatewayUrl: hooks.url,
    hooksToken: hooks.token,
    // A stand-in gateway's turns: 200 ms, or 3 s for a task that says "long job".
    replies: {
      waitForReply: async ({ marker, timeoutMs }) => {
        const deadline = Date.now() + timeoutMs;
        let post: HooksEndpoint["received"][number] | undefined;
        while (!(post = hooks.received.find((h) => h.body.message?.includes(marker)))) {
          if (Date.now() > deadline) return { status: "timeout" as const };
          await sleep(5);
        }
        await sleep(post.body.message!.includes("long job") ? 3_000 : 200);
        return { status: "ok" as const, text: `result for ${marker}` };
      },
    },
    jobs: { queues: ["default"], ackWaitMs: 4_000 },
    leaf: mesh.macs.orion!.config,
  });
});

afterAll(async () => {
  await orion?.stop("test done").catch(() => undefined);
  for (const nc of clients) await nc.close().catch(() => undefined);
  await hooks?.close();
  await mesh?.close();
});

describe("jobs in leaf mode", () => {
  it("a job nova submits on Mac nova runs once on orion's worker on Mac orion (its consumer on the hub's JOBS), and nova reads the result from the hub", async () => {
    const nova = await clientOf("nova", "nova");
    const rec = await submitJob(nova, { from: "nova", task: "run the tests" });
    const done = await waitForJob(nova, rec.id, 30_000);
    expect(done.state).toBe("done");
    expect(done.worker).toBe("orion");
    expect(done.result).toBe(`result for [mesh job ${rec.id}]`);
    expect(runsOf(rec.id)).toBe(1);
    // The worker's durable consumer is on the hub (nothing about jobs on either leaf).
    const hubConsumers: string[] = [];
    for await (const c of (await jetstreamManager(mesh.admin)).consumers.list(STREAMS.jobs)) hubConsumers.push(c.name);
    expect(hubConsumers.length).toBeGreaterThan(0);
    const novaLeafStreams: string[] = [];
    for await (const n of (await jetstreamManager(await clientOf("nova", "nova"))).streams.names()) novaLeafStreams.push(n);
    expect(novaLeafStreams).not.toContain(STREAMS.jobs);
  });

  it("with Mac nova's link cut, a job submit fails at once with nats.js's JetStreamNotEnabled from a no-responders answer (the hub holds jobs); after the link is back it is accepted", async () => {
    const nova = await clientOf("nova", "nova");
    mesh.macs.nova!.proxy.reset();
    await until("nova's leaf saw its link go", async () => !(await nova.request("$JS.hub.API.INFO", undefined, { timeout: 500 }).then(() => true, () => false)), 15_000);
    const t0 = Date.now();
    const err = await submitJob(nova, { from: "nova", task: "offline job" }).catch((e: unknown) => e);
    // The hub's JetStream API has no responder on nova's leaf while the link is down: nats.js's own
    // JetStreamNotEnabled, caused by the no-responders answer, in milliseconds (not a timeout).
    expect(err).toBeInstanceOf(jserrors.JetStreamNotEnabled);
    expect((err as Error).cause).toBeInstanceOf(errors.RequestError);
    expect(((err as Error).cause as InstanceType<typeof errors.RequestError>).isNoResponders()).toBe(true);
    expect(Date.now() - t0).toBeLessThan(10_000);
    mesh.macs.nova!.proxy.up();
    await until("nova's link back", async () => nova.request("$JS.hub.API.INFO", undefined, { timeout: 500 }).then(() => true, () => false), 30_000);
    const rec = await submitJob(nova, { from: "nova", task: "after the cut" });
    expect((await waitForJob(nova, rec.id, 30_000)).state).toBe("done");
  });

  it("from nova's side, the pull grant is its own consumer only: a pull on a JOBS consumer it was not granted is answered by nova's leaf with no responders at once; its own consumer's pull gets the hub's answer", async () => {
    // A consumer for gpu jobs, which no identity on Mac nova may serve (no capabilities granted).
    await (await jetstreamManager(mesh.admin)).consumers.add(STREAMS.jobs, { durable_name: "jobs-default-gpu", filter_subject: "jobs.default.gpu", ack_policy: AckPolicy.Explicit });
    const nova = await clientOf("nova", "nova");
    const pull = (consumer: string) => nova.request(`$JS.hub.API.CONSUMER.MSG.NEXT.${STREAMS.jobs}.${consumer}`, JSON.stringify({ batch: 1, no_wait: true }), { timeout: 5_000 });
    const t0 = Date.now();
    const refused = await pull("jobs-default-gpu").then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(errors.RequestError);
    expect((refused as InstanceType<typeof errors.RequestError>).isNoResponders()).toBe(true);
    expect(Date.now() - t0).toBeLessThan(4_000);
    // The control: its own granted consumer's pull reaches the hub, which answers (no job waiting: 404 or 408).
    const own = await pull("jobs-default-any");
    expect([404, 408]).toContain(own.headers?.code);
  });

  it("orion's link cut while its worker runs a job (ack wait 4 s): the job is run once and ends done once the link is back", async () => {
    const nova = await clientOf("nova", "nova");
    // A job that takes 3 s at orion's gateway; the link goes as it starts, for 8 s (past the ack wait).
    const rec = await submitJob(nova, { from: "nova", task: "long job across a cut" });
    await until("orion's gateway got the job", () => runsOf(rec.id) > 0, 20_000);
    mesh.macs.orion!.proxy.reset();
    await sleep(8_000);
    mesh.macs.orion!.proxy.up();
    const done = await waitForJob(nova, rec.id, 60_000);
    expect(done.state).toBe("done");
    // Redelivered by the hub after its ack wait, it found its record and was not run again.
    await sleep(6_000);
    expect(runsOf(rec.id)).toBe(1);
    expect((await jobStatus(nova, rec.id)).state).toBe("done");
  });
});
