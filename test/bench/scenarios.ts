import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS, dlqStreamName, hooksStreamName, inboxConsumerName, inboxStreamName } from "../../subjects/names.js";
import { provisionIdentity } from "../../broker/provision.js";
import { encodeEnvelope, eventSubject, inboxSubject, newEnvelope, parseEnvelope } from "../../subjects/mod.js";
import { connectMesh } from "../../src/bus/connection.js";
import { openclawHooksAgent } from "../../src/agent/openclaw-hooks/adapter.js";
import { submitJob, waitForJob } from "../../src/features/jobs/client.js";
import { createLogger } from "../../src/base/log.js";
import { publishEnvelope } from "../../src/bus/publish.js";
import { EventPublisher } from "../../src/bus/events.js";
import { Sidecar } from "../../src/sidecar/sidecar.js";
import { Kvm } from "@nats-io/kv";
import { spawnBareConnection, spawnSidecarProcess, rssMb, type Proc } from "../support/processes.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { round, summarize, type Summary } from "./stats.js";
import { stubReplies } from "./stub-replies.js";

const quiet = createLogger({ name: "bench", level: "silent" });
const SENDERS = 4;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface BenchContext {
  server: string;
  nc: NatsConnection;
  quick: boolean;
  /** Unique per run, so a bench on a user's mesh does not collide with real identities. */
  tag: string;
  /** The credentials file the bench connects with (passed on to the sidecar processes). */
  creds?: string;
}

async function sidecar(ctx: BenchContext, identity: string, hooks: HooksEndpoint, extra: Partial<ConstructorParameters<typeof Sidecar>[0]> = {}): Promise<Sidecar> {
  const s = new Sidecar({
    identity,
    server: ctx.server,
    agent: openclawHooksAgent({ endpoint: { url: hooks.url, hooksPath: "/hooks", hooksToken: hooks.token } }),
    stateDir: mkdtempSync(join(tmpdir(), `mesh-bench-${identity}-`)),
    log: quiet,
    jobs: false,
    presenceIntervalMs: 5000,
    ...extra,
  });
  await s.start();
  return s;
}

/** Publishes `n` messages at `rate`/s (0 = as fast as acks allow), calling `send(i)`. */
async function paced(n: number, rate: number, send: (i: number) => Promise<unknown>): Promise<void> {
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    if (rate > 0) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
    pending.push(send(i));
    if (pending.length >= 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

export interface LatencyRow {
  path: string;
  rate: string;
  sent: number;
  /** Arrived (timed) within 60 s of the last publish. */
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  msgs_per_s: number;
}

/** 1. Inbox end to end: publish → the hooks endpoint gets the POST; beside raw JetStream publish → consume. */
export async function inboxLatency(ctx: BenchContext): Promise<{ rows: LatencyRow[]; httpPostP50: number }> {
  const rows: LatencyRow[] = [];
  const runs: Array<{ rate: number; n: number }> = ctx.quick
    ? [{ rate: 100, n: 100 }, { rate: 0, n: 300 }]
    : [{ rate: 100, n: 500 }, { rate: 1000, n: 3000 }, { rate: 0, n: 3000 }];
  const hooks = await startHooksEndpoint();
  hooks.record = false;
  // One local HTTP POST on its own, for the target "raw p99 × 1.5 + one POST".
  const post: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await fetch(`${hooks.url}/hooks/agent`, { method: "POST", headers: { authorization: `Bearer ${hooks.token}`, "content-type": "application/json" }, body: JSON.stringify({ message: "x" }) });
    post.push(performance.now() - t);
  }
  const mesh = `${ctx.tag}-lat`;
  const s = await sidecar(ctx, mesh, hooks);
  const js = jetstream(ctx.nc);
  const jsm = await jetstreamManager(ctx.nc);
  const raw = `${ctx.tag}-raw`;
  await provisionIdentity(jsm, raw);
  const rawConsumer = await js.consumers.get(inboxStreamName(raw), inboxConsumerName(raw));
  const rawSent = new Map<string, number>();
  const rawLat: number[] = [];
  const rawMsgs = await rawConsumer.consume({ max_messages: 256 });
  void (async () => {
    for await (const m of rawMsgs) {
      const id = m.headers?.get("Nats-Msg-Id") ?? "";
      const t0 = rawSent.get(id);
      if (t0 !== undefined) rawLat.push(performance.now() - t0);
      m.ack();
    }
  })();
  const meshSent = new Map<string, number>();
  const meshLat: number[] = [];
  hooks.onHook = (h) => {
    const m = /#(\S+)#/.exec(h.body.message ?? "");
    const t0 = m ? meshSent.get(m[1]!) : undefined;
    if (t0 !== undefined) meshLat.push(performance.now() - t0);
  };
  for (const { rate, n } of runs) {
    for (const path of ["raw nats.js", "mesh"] as const) {
      const lat = path === "mesh" ? meshLat : rawLat;
      lat.length = 0;
      const t0 = performance.now();
      await paced(n, rate, async (i) => {
        // Four senders: the sidecar delivers each sender's messages in order, senders in parallel.
        const env = newEnvelope({ from: `bench-${i % SENDERS}`, to: path === "mesh" ? mesh : raw, kind: "message", body: `#${ctx.tag}-${rate}-${i}# bench` });
        const key = `${ctx.tag}-${rate}-${i}`;
        if (path === "mesh") meshSent.set(key, performance.now());
        else rawSent.set(env.id, performance.now());
        await js.publish(inboxSubject(env.to, env.from), encodeEnvelope(env), { msgID: env.id });
      });
      const deadline = Date.now() + 60_000;
      while (lat.length < n && Date.now() < deadline) await sleep(10);
      const secs = (performance.now() - t0) / 1000;
      const sm: Summary = summarize(lat);
      rows.push({ path, rate: rate ? `${rate}/s` : "saturation", sent: n, n: sm.n, p50_ms: sm.p50, p99_ms: sm.p99, max_ms: sm.max, msgs_per_s: Math.round(sm.n / secs) });
    }
  }
  await rawMsgs.close();
  await s.stop("bench done");
  for (const id of [raw, mesh]) for (const st of [inboxStreamName(id), dlqStreamName(id), hooksStreamName(id)]) await jsm.streams.delete(st).catch(() => undefined);
  await hooks.close();
  return { rows, httpPostP50: summarize(post).p50 };
}

export interface EventRow {
  path: string;
  n: number;
  published: number;
  failed: number;
  unsettled_after_flush: number;
  msgs_per_s: number;
}

/**
 * 2. Event publishing throughput: the sidecar's EventPublisher vs raw async JetStream publish.
 * Every publish is counted: acknowledged, failed (rejected PubAck, timeout, no stream) and, for the
 * EventPublisher, still unsettled when its flush gave up. Throughput counts acknowledged publishes only.
 */
export async function eventThroughput(ctx: BenchContext): Promise<{ rows: EventRow[]; failures: string[] }> {
  const n = ctx.quick ? 2000 : 20000;
  const flushMs = 60_000;
  const js = jetstream(ctx.nc);
  const rows: EventRow[] = [];
  for (const path of ["raw nats.js", "mesh EventPublisher"] as const) {
    const who = `${ctx.tag}-ev`;
    const t0 = performance.now();
    let published = 0;
    let failed = 0;
    let unsettled = 0;
    if (path === "raw nats.js") {
      const pending: Promise<unknown>[] = [];
      const settle = async (): Promise<void> => {
        for (const r of await Promise.allSettled(pending.splice(0))) {
          if (r.status === "fulfilled") published++;
          else failed++;
        }
      };
      for (let i = 0; i < n; i++) {
        const env = newEnvelope({ from: who, to: "*", kind: "event", type: "bench.tick", body: { i } });
        pending.push(js.publish(eventSubject(who, "bench", "tick"), encodeEnvelope(env), { msgID: env.id }));
        if (pending.length >= 1024) await settle();
      }
      await settle();
    } else {
      const ev = new EventPublisher(ctx.nc, who, quiet);
      for (let i = 0; i < n; i++) {
        ev.emit("job.started", { jobId: String(i), queue: "bench", attempt: 1 });
        if (i % 1024 === 1023) await ev.flush(flushMs);
      }
      await ev.flush(flushMs);
      published = ev.published;
      failed = ev.failed;
      // flush() returns after flushMs whether or not every publish settled: what is left timed out.
      unsettled = n - ev.published - ev.failed;
    }
    const secs = (performance.now() - t0) / 1000;
    rows.push({ path, n, published, failed, unsettled_after_flush: unsettled, msgs_per_s: Math.round(published / secs) });
  }
  const failures = rows.flatMap((r) => [
    ...(r.failed > 0 ? [`events (${r.path}): ${r.failed} of ${r.n} publishes failed`] : []),
    ...(r.unsettled_after_flush > 0 ? [`events (${r.path}): ${r.unsettled_after_flush} of ${r.n} publishes unsettled after a ${flushMs / 1000} s flush`] : []),
  ]);
  return { rows, failures };
}

/** 3. CLI cold start: `mesh send` vs a bare node script that connects and publishes with nats.js. */
export async function cliColdStart(ctx: BenchContext): Promise<Array<{ command: string; runs: number; median_ms: number }>> {
  const runs = ctx.quick ? 5 : 20;
  // The recipient's inbox exists (as after add-identity): both commands measure a plain publish.
  await provisionIdentity(await jetstreamManager(ctx.nc), `${ctx.tag}-cli`);
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const main = join(root, "dist", "cli", "main.js");
  const dir = mkdtempSync(join(tmpdir(), "mesh-bench-cli-"));
  // Resolved by node itself (the bench may run under vite-node, which has no import.meta.resolve).
  const resolveModule = (spec: string): string =>
    execFileSync(process.execPath, ["--input-type=module", "-e", `console.log(import.meta.resolve(${JSON.stringify(spec)}))`], { cwd: root, encoding: "utf8" }).trim();
  const transport = resolveModule("@nats-io/transport-node");
  const jsmod = resolveModule("@nats-io/jetstream");
  const bare = join(dir, "bare.mjs");
  writeFileSync(
    bare,
    `import { connect } from ${JSON.stringify(transport)};\nimport { jetstream } from ${JSON.stringify(jsmod)};\n` +
      `const nc = await connect({ servers: process.env.S.split(",") });\nconst ack = await jetstream(nc).publish("agent.${ctx.tag}-cli.inbox", JSON.stringify({ body: "hi" }));\n` +
      `console.log("sent", ack.seq);\nawait nc.drain();\n`,
  );
  const { servers } = { servers: ctx.server.replace(/^nats:\/\/[^@]*@/, "nats://") };
  const time = (argv: string[]): number[] => {
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, argv, { env: { ...process.env, S: servers, MESH_SERVER: ctx.server, MESH_IDENTITY: "bench" }, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
      xs.push(performance.now() - t);
    }
    return xs;
  };
  time([bare]); // warm the file cache for both
  time([main, "send", `${ctx.tag}-cli`, "hi"]);
  const rows = [
    { command: "node bare.mjs (nats.js connect + publish)", runs, median_ms: summarize(time([bare])).p50 },
    { command: `mesh send ${ctx.tag}-cli hi`, runs, median_ms: summarize(time([main, "send", `${ctx.tag}-cli`, "hi"])).p50 },
  ];
  rmSync(dir, { recursive: true, force: true });
  return rows;
}

/** 4. Jobs: 3 workers × 30 equal jobs; makespan vs ideal, per worker, duplicates. */
export async function jobsSpread(ctx: BenchContext): Promise<{ workers: Record<string, number>; makespanMs: number; idealMs: number; duplicates: number; lost: number }> {
  const duration = ctx.quick ? 100 : 500;
  const queue = `${ctx.tag}-jobs`;
  const ends: HooksEndpoint[] = [];
  const workers: Sidecar[] = [];
  for (const w of ["w1", "w2", "w3"]) {
    const hooks = await startHooksEndpoint();
    ends.push(hooks);
    workers.push(await sidecar(ctx, `${ctx.tag}-${w}`, hooks, { agent: openclawHooksAgent({ endpoint: { url: hooks.url, hooksPath: "/hooks", hooksToken: hooks.token }, replies: stubReplies(hooks, duration) }), jobs: { queues: [queue] } }));
  }
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push((await submitJob(ctx.nc, { from: "bench", task: `job ${i}`, queue })).id);
  const done = await Promise.all(ids.map((id) => waitForJob(ctx.nc, id, 120_000)));
  const makespanMs = Math.round(performance.now() - t0);
  const posts = ends.flatMap((h) => h.received.map((r) => /\[mesh job ([0-9a-f-]+)\]/.exec(r.body.message ?? "")?.[1]).filter(Boolean));
  const per: Record<string, number> = {};
  for (const d of done) per[d.worker ?? "?"] = (per[d.worker ?? "?"] ?? 0) + 1;
  for (const w of workers) await w.stop("bench done");
  for (const h of ends) await h.close();
  return { workers: per, makespanMs, idealMs: 10 * duration, duplicates: posts.length - new Set(posts).size, lost: ids.filter((id) => !done.find((d) => d.id === id && d.state === "done")).length };
}

export interface ScaleRow {
  identities: number;
  delivered: string;
  publish_failed: number;
  p50_ms: number;
  p99_ms: number;
  rss_mb_per_sidecar_median: number;
  rss_mb_per_sidecar_max: number;
  rss_mb_bare_nats_js: number;
  "sidecar / bare": number;
}

/**
 * 5. Scale: N identities, each a separate `mesh sidecar` process on one broker: per-message latency
 * and the resident memory of each sidecar process, against a bare nats.js process (one connection,
 * nothing else) measured in the same run.
 */
export async function scale(ctx: BenchContext): Promise<{ rows: ScaleRow[]; failures: string[] }> {
  const sizes = ctx.quick ? [1, 10] : [1, 10, 100];
  const rows: ScaleRow[] = [];
  const failures: string[] = [];
  const kv = await new Kvm(ctx.nc).open(BUCKETS.presence);
  const jsm = await jetstreamManager(ctx.nc);
  for (const n of sizes) {
    const hooks = await startHooksEndpoint();
    hooks.record = false;
    const ids = Array.from({ length: n }, (_, i) => `${ctx.tag}-s${n}-${i}`);
    const procs: Proc[] = [];
    const bare = await spawnBareConnection(ctx.server);
    try {
      // A few at a time: starting 100 node processes at once on a small machine only measures the scheduler.
      for (let i = 0; i < ids.length; i += 5) {
        const batch = ids.slice(i, i + 5);
        for (const id of batch) procs.push(spawnSidecarProcess({ identity: id, server: ctx.server, ...(ctx.creds ? { creds: ctx.creds } : {}), hooks, jobs: false }));
        for (const id of batch) {
          const deadline = Date.now() + 60_000;
          while (!(await kv.get(id))?.value.length) {
            if (Date.now() > deadline) throw new Error(`sidecar process ${id} wrote no presence in 60 s: ${procs.at(-1)?.stderr() ?? ""}`);
            await sleep(100);
          }
        }
      }
      const sent = new Map<string, number>();
      const lat: number[] = [];
      hooks.onHook = (h) => {
        const m = /#(\S+)#/.exec(h.body.message ?? "");
        const t0 = m ? sent.get(m[1]!) : undefined;
        if (t0 !== undefined) lat.push(performance.now() - t0);
      };
      const total = ctx.quick ? 100 : 500;
      let publishFailed = 0;
      await paced(total, 200, async (i) => {
        const key = `${n}-${i}`;
        sent.set(key, performance.now());
        // A failed publish is counted (and fails the run), not thrown: the row still shows what happened.
        await publishEnvelope(ctx.nc, inboxSubject(ids[i % n]!, "bench"), newEnvelope({ from: "bench", to: ids[i % n]!, kind: "message", body: `#${key}#` })).catch(() => {
          publishFailed++;
        });
      });
      const deadline = Date.now() + 60_000;
      while (lat.length < total - publishFailed && Date.now() < deadline) await sleep(10);
      if (publishFailed > 0) failures.push(`scale ${n}: ${publishFailed} of ${total} publishes failed`);
      if (lat.length < total - publishFailed) failures.push(`scale ${n}: ${total - publishFailed - lat.length} of ${total - publishFailed} published messages not delivered in 60 s`);
      // Memory after every sidecar started, delivered its share and settled for a second.
      await sleep(1000);
      const rss = procs.map((p) => rssMb(p.pid));
      const bareRss = rssMb(bare.pid);
      const sm = summarize(lat);
      const mem = summarize(rss);
      rows.push({
        identities: n,
        delivered: `${lat.length}/${total}`,
        publish_failed: publishFailed,
        p50_ms: sm.p50,
        p99_ms: sm.p99,
        rss_mb_per_sidecar_median: round(mem.p50, 1),
        rss_mb_per_sidecar_max: round(mem.max, 1),
        rss_mb_bare_nats_js: round(bareRss, 1),
        "sidecar / bare": round(mem.p50 / bareRss),
      });
    } finally {
      await Promise.all([...procs, bare].map((p) => p.stop()));
      for (const id of ids) for (const st of [inboxStreamName(id), dlqStreamName(id), hooksStreamName(id)]) await jsm.streams.delete(st).catch(() => undefined);
      await hooks.close();
    }
  }
  return { rows, failures };
}

export { parseEnvelope, connectMesh };
