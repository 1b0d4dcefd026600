/**
 * 5. Identities per broker, on the secure broker (each identity registered with its own credential
 * and provisioned by the admin, as `mesh broker add-identity` does):
 * - in-process: N sidecars (class Sidecar, each its own authenticated connection, verifying every
 *   signature) in this one bench process: how many start, the per-message latency (one signed
 *   message to one identity after another, publish → hooks POST), and the broker's own memory
 *   (nats-server /varz `mem`) before vs after registering, provisioning and starting the N;
 * - separate processes: a few `mesh sidecar` processes (the command users run, dist/bin/mesh.js)
 *   for resident memory per sidecar against a bare nats.js process (same credential kind, one
 *   connection, nothing else) measured at the same moment.
 * N sidecars in one node process share its one thread: at 1,000 the latency includes that process's
 * own load (1,000 connections, heartbeats, consumers), which separate Macs would not share.
 * The N are added as `mesh identity add --no-hooks` adds them (they run no hook rules): no
 * HOOKS-<id> copy of EVENTS each, which would store every event N times.
 */
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { inboxSubject, newEnvelope } from "../../subjects/mod.js";
import { publishEnvelope } from "../../src/bus/publish.js";
import { Kvm } from "@nats-io/kv";
import { BUCKETS } from "../../subjects/names.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { spawnBareConnection, spawnSidecarProcess, rssMb, type Proc } from "../support/processes.js";
import { paced, sidecar, sleep, type BenchContext } from "./scenarios.js";
import { latencyCols, round, summarize, tailColumns, type LatencyCols } from "./stats.js";

const MiB = 1024 * 1024;

export type InProcessRow = { identities: number; start_s: number; delivered: string } & LatencyCols & {
  broker_mem_mb_before: number;
  broker_mem_mb_after: number;
  broker_mb_per_identity: number;
};

export interface ProcessRow {
  processes: number;
  rss_mb_per_sidecar_median: number;
  rss_mb_per_sidecar_max: number;
  rss_mb_bare_nats_js: number;
  "sidecar / bare": number;
}

/**
 * Messages per second across all N: low enough that one sidecar alone (N = 1) is not queueing
 * (at 200/s the lone sidecar's p50 was 280 ms against 2.35 ms at N = 10, which measured its queue,
 * not the per-message cost the 1.2× target compares).
 */
const RATE = 50;

/** Delivers `total` signed messages at RATE/s, one identity after another, and times publish → POST. */
async function deliverRoundRobin(ctx: BenchContext, hooks: HooksEndpoint, ids: string[], total: number, label: string): Promise<{ lat: number[]; publishFailed: number; failures: string[] }> {
  const sender = `${ctx.tag}-isnd`;
  const nc = await ctx.broker.as(sender);
  const sent = new Map<string, number>();
  const lat: number[] = [];
  hooks.onHook = (h) => {
    const m = /#(\S+)#/.exec(h.body.message ?? "");
    const t0 = m ? sent.get(m[1]!) : undefined;
    if (t0 !== undefined) lat.push(performance.now() - t0);
  };
  let publishFailed = 0;
  await paced(total, RATE, async (i) => {
    const key = `${label.replace(/\W+/g, "-")}-${i}`;
    const to = ids[i % ids.length]!;
    sent.set(key, performance.now());
    // A failed publish is counted (and fails the run), not thrown: the row still shows what happened.
    await publishEnvelope(nc, inboxSubject(to, sender), newEnvelope({ from: sender, to, kind: "message", body: `#${key}#` })).catch(() => {
      publishFailed++;
    });
  });
  const deadline = Date.now() + 60_000;
  while (lat.length < total - publishFailed && Date.now() < deadline) await sleep(10);
  const failures: string[] = [];
  if (publishFailed > 0) failures.push(`${label}: ${publishFailed} of ${total} publishes failed`);
  if (lat.length < total - publishFailed) failures.push(`${label}: ${total - publishFailed - lat.length} of ${total - publishFailed} published messages not delivered in 60 s`);
  await nc.close();
  return { lat: [...lat], publishFailed, failures };
}

/** How long the N sidecars of one row may take to register, provision and start. */
const START_BUDGET_MS = 180_000;

export async function identitiesInProcess(ctx: BenchContext): Promise<{ rows: InProcessRow[]; failures: string[]; seconds: Record<string, number> }> {
  const sizes = ctx.quick ? [1, 5] : [1, 10, 100, 1000];
  const total = ctx.quick ? 40 : 500;
  const rows: InProcessRow[] = [];
  const failures: string[] = [];
  const seconds: Record<string, number> = {};
  await ctx.broker.addIdentities([`${ctx.tag}-isnd`]);
  for (const n of sizes) {
    const t0 = performance.now();
    const hooks = await startHooksEndpoint();
    hooks.record = false;
    const ids = Array.from({ length: n }, (_, i) => `${ctx.tag}-i${n}-${i}`);
    const sidecars: Sidecar[] = [];
    try {
      const before = await ctx.broker.memBytes();
      const started = performance.now();
      await ctx.broker.addIdentities(ids, { hooks: false });
      // Ten at a time, with the sidecar's own heartbeat interval (not the bench's faster one).
      for (let i = 0; i < ids.length; i += 10) {
        if (performance.now() - started > START_BUDGET_MS) {
          throw new Error(
            `${sidecars.length} of ${n} sidecars started in ${START_BUDGET_MS / 1000} s`,
          );
        }
        sidecars.push(...(await Promise.all(ids.slice(i, i + 10).map((id) => sidecar(ctx.broker, id, hooks, { presenceIntervalMs: undefined })))));
      }
      const startS = round((performance.now() - started) / 1000, 1);
      await sleep(2000);
      const after = await ctx.broker.memBytes();
      const d = await deliverRoundRobin(ctx, hooks, ids, total, `identities ${n} (in-process)`);
      failures.push(...d.failures);
      rows.push({
        identities: n,
        start_s: startS,
        delivered: `${d.lat.length}/${total}`,
        ...latencyCols(d.lat),
        broker_mem_mb_before: round(before / MiB, 1),
        broker_mem_mb_after: round(after / MiB, 1),
        broker_mb_per_identity: round((after - before) / MiB / n, 3),
      });
      ctx.log?.(JSON.stringify(rows.at(-1)));
    } catch (err) {
      // The rows measured so far stay; this size says why it could not run (and fails the run).
      failures.push(`identities ${n} (in-process): could not run: ${(err as Error).message.split("\n")[0]}`);
      break;
    } finally {
      for (let i = 0; i < sidecars.length; i += 20) await Promise.all(sidecars.slice(i, i + 20).map((s) => s.stop("bench done").catch(() => undefined)));
      await hooks.close();
    }
    seconds[String(n)] = round((performance.now() - t0) / 1000, 1);
  }
  return { rows: tailColumns(rows), failures, seconds };
}

/** Separate `mesh sidecar` processes: resident memory per sidecar vs a bare nats.js process. */
export async function identitiesProcesses(ctx: BenchContext): Promise<{ rows: ProcessRow[]; failures: string[] }> {
  const sizes = ctx.quick ? [1] : [1, 10];
  const rows: ProcessRow[] = [];
  const failures: string[] = [];
  const kv = await new Kvm(ctx.broker.admin).open(BUCKETS.presence);
  for (const n of sizes) {
    const hooks = await startHooksEndpoint();
    hooks.record = false;
    const ids = Array.from({ length: n }, (_, i) => `${ctx.tag}-p${n}-${i}`);
    await ctx.broker.addIdentities(ids, { hooks: false });
    const procs: Proc[] = [];
    const bare = await spawnBareConnection(ctx.broker.url, ctx.broker.creds(ids[0]!));
    try {
      // A few at a time: starting many node processes at once on a small machine only measures the scheduler.
      for (let i = 0; i < ids.length; i += 5) {
        const batch = ids.slice(i, i + 5);
        for (const id of batch) {
          const creds = ctx.broker.creds(id);
          procs.push(spawnSidecarProcess({ identity: id, server: ctx.broker.url, ...(creds ? { creds } : {}), hooks, jobs: false }));
        }
        for (const id of batch) {
          const deadline = Date.now() + 60_000;
          while (!(await kv.get(id))?.value.length) {
            if (Date.now() > deadline) throw new Error(`sidecar process ${id} wrote no presence in 60 s: ${procs.at(-1)?.stderr() ?? ""}`);
            await sleep(100);
          }
        }
      }
      // Each process delivers its share (so the delivery path is loaded), then memory is read after a 1 s settle.
      const d = await deliverRoundRobin(ctx, hooks, ids, ctx.quick ? 20 : 100, `identities ${n} (processes)`);
      failures.push(...d.failures);
      await sleep(1000);
      const rss = procs.map((p) => rssMb(p.pid));
      const bareRss = rssMb(bare.pid);
      const mem = summarize(rss);
      rows.push({
        processes: n,
        rss_mb_per_sidecar_median: round(mem.p50, 1),
        rss_mb_per_sidecar_max: round(mem.max, 1),
        rss_mb_bare_nats_js: round(bareRss, 1),
        "sidecar / bare": round(mem.p50 / bareRss),
      });
    } finally {
      await Promise.all([...procs, bare].map((p) => p.stop()));
      await hooks.close();
    }
  }
  return { rows, failures };
}
