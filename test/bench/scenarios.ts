import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { inboxConsumerName, inboxStreamName } from "../../subjects/names.js";
import { encodeEnvelope, eventSubject, inboxSubject, newEnvelope } from "../../subjects/mod.js";
import { openclawHooksAgent } from "../../src/agent/openclaw-hooks/adapter.js";
import { submitJob, waitForJob } from "../../src/features/jobs/client.js";
import { createLogger } from "../../src/base/log.js";
import { publishEnvelope } from "../../src/bus/publish.js";
import { EventPublisher } from "../../src/bus/events.js";
import { replayDirect } from "../../src/bus/replay.js";
import { historyStreamName } from "../../subjects/names.js";
import { Sidecar } from "../../src/sidecar/sidecar.js";
import { startSealing } from "../../src/bus/sealing.js";
import { MeshVerifier } from "../../src/bus/verify.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { latencyCols, summarize, tailColumns, type LatencyCols } from "./stats.js";
import { stubReplies } from "./stub-replies.js";
import type { BenchBroker } from "./bench-broker.js";

export const quiet = createLogger({ name: "bench", level: "silent" });
const SENDERS = 4;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface BenchContext {
  /** The secure broker (credentials for every identity, signed envelopes, verifying sidecars). */
  broker: BenchBroker;
  /** An open broker (no auth), for the rows labelled "open mesh". */
  open?: BenchBroker;
  quick: boolean;
  /** Unique per run. */
  tag: string;
  /** Progress lines (a row as soon as it is measured). */
  log?: (s: string) => void;
}

/** An in-process sidecar of `identity` on `broker` (with its credential on a secure one), delivering to the hooks stand-in. */
export async function sidecar(broker: BenchBroker, identity: string, hooks: HooksEndpoint, extra: Partial<ConstructorParameters<typeof Sidecar>[0]> = {}): Promise<Sidecar> {
  const creds = broker.creds(identity);
  const s = new Sidecar({
    identity,
    server: broker.url,
    ...(creds ? { creds } : {}),
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
export async function paced(n: number, rate: number, send: (i: number) => Promise<unknown>): Promise<void> {
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

export type LatencyRow = { path: string; rate: string; sent: number; publish_failed: number } & LatencyCols & { msgs_per_s: number };

export const RAW = "raw nats.js";
export const MESH = "mesh (secure)";
export const OPEN = "mesh (open mesh)";
export const SEALED = "mesh (secure, sealed)";

/**
 * 1. Inbox end to end: publish → the hooks endpoint gets the POST. Secure mesh: four sender
 * identities, each on its own authenticated connection, sign their envelopes; the sidecar (its own
 * credential) verifies each one and delivers. Raw: the same senders publish to a raw identity's
 * inbox on the same authenticated broker, which consumes it with nats.js, acks and deletes (as the sidecar does). Open mesh: the
 * same sidecar code on a broker without auth, unsigned envelopes.
 */
export async function inboxLatency(ctx: BenchContext): Promise<{ rows: LatencyRow[]; httpPostP50: number; httpPostN: number; unsealed: number }> {
  const rows: LatencyRow[] = [];
  const runs: Array<{ rate: number; n: number }> = ctx.quick
    ? [{ rate: 100, n: 100 }, { rate: 1000, n: 300 }, { rate: 0, n: 300 }]
    : [{ rate: 100, n: 500 }, { rate: 1000, n: 3000 }, { rate: 0, n: 3000 }];
  const hooks = await startHooksEndpoint();
  hooks.record = false;
  // One local HTTP POST on its own: what any delivery to a gateway costs at least.
  const post: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await fetch(`${hooks.url}/hooks/agent`, { method: "POST", headers: { authorization: `Bearer ${hooks.token}`, "content-type": "application/json" }, body: JSON.stringify({ message: "x" }) });
    post.push(performance.now() - t);
  }
  const mesh = `${ctx.tag}-lat`;
  const raw = `${ctx.tag}-raw`;
  const senders = Array.from({ length: SENDERS }, (_, i) => `${ctx.tag}-snd${i}`);
  await ctx.broker.addIdentities([mesh, raw, ...senders]);
  const senderNc: NatsConnection[] = [];
  for (const id of senders) senderNc.push(await ctx.broker.as(id));
  const sidecars = [await sidecar(ctx.broker, mesh, hooks)];
  // Sealed: the same senders on connections that seal (a keyring each, as a sender's sidecar has);
  // the sidecar above published its sealing key at its start.
  const sealedNc: NatsConnection[] = [];
  const keys = mkdtempSync(join(tmpdir(), "mesh-bench-keys-"));
  for (const id of senders) {
    const nc = await ctx.broker.as(id);
    if (!(await startSealing(nc, id, join(keys, `${id}.json`), await MeshVerifier.open(nc, quiet), quiet))) throw new Error("sealing did not start (no mesh-xkeys bucket on the bench broker?)");
    sealedNc.push(nc);
  }
  let unsealed = 0;
  let openNc: NatsConnection | undefined;
  if (ctx.open) {
    await ctx.open.addIdentities([mesh]);
    sidecars.push(await sidecar(ctx.open, mesh, hooks));
    openNc = ctx.open.admin;
  }
  const rawNc = await ctx.broker.as(raw);
  const rawConsumer = await jetstream(rawNc).consumers.get(inboxStreamName(raw), inboxConsumerName(raw));
  const rawSent = new Map<string, { t0: number; into: number[] }>();
  let rawLat: number[] = [];
  const rawMsgs = await rawConsumer.consume({ max_messages: 256 });
  // Ack, then delete (not awaited), as the sidecar does: an inbox share counts what waits, so
  // each consumer removes what it is done with (without it, a sender's 1 001st message is refused).
  const rawJsm = await jetstreamManager(rawNc, { checkAPI: false });
  void (async () => {
    for await (const m of rawMsgs) {
      const id = m.headers?.get("Nats-Msg-Id") ?? "";
      const sent = rawSent.get(id);
      if (sent) sent.into.push(performance.now() - sent.t0);
      m.ack();
      void rawJsm.streams.deleteMessage(inboxStreamName(raw), m.seq, false).catch(() => undefined);
    }
  })();
  // Each message's send time and the row it belongs to: a late arrival of one row never counts in the next.
  const meshSent = new Map<string, { t0: number; into: number[] }>();
  let meshLat: number[] = [];
  hooks.onHook = (h) => {
    const m = /#(\S+)#/.exec(h.body.message ?? "");
    const sent = m ? meshSent.get(m[1]!) : undefined;
    if (sent) sent.into.push(performance.now() - sent.t0);
  };
  const paths = [RAW, MESH, SEALED, ...(openNc ? [OPEN] : [])];
  const send = async (path: string, rate: number, i: number): Promise<void> => {
    // Four senders: the sidecar delivers each sender's lane in order, senders in parallel.
    const from = senders[i % SENDERS]!;
    const key = `${ctx.tag}-${rate}-${paths.indexOf(path)}-${i}`;
    if (path === RAW) {
      const env = newEnvelope({ from, to: raw, kind: "message", body: `#${key}# bench` });
      rawSent.set(env.id, { t0: performance.now(), into: rawLat });
      await jetstream(senderNc[i % SENDERS]!).publish(inboxSubject(raw, from), encodeEnvelope(env), { msgID: env.id });
    } else {
      const env = newEnvelope({ from, to: mesh, kind: "message", body: `#${key}# bench` });
      meshSent.set(key, { t0: performance.now(), into: meshLat });
      // Secure: signed with the sender's key by publishEnvelope (sealed first on a sealing connection); open: unsigned.
      const nc = path === MESH ? senderNc[i % SENDERS]! : path === SEALED ? sealedNc[i % SENDERS]! : openNc!;
      const sent = await publishEnvelope(nc, inboxSubject(mesh, from), env);
      if (path === SEALED && !sent.sealed) unsealed++;
    }
  };
  for (const { rate, n } of runs) {
    for (const path of paths) {
      const lat: number[] = [];
      if (path === RAW) rawLat = lat;
      else meshLat = lat;
      const t0 = performance.now();
      let publishFailed = 0;
      // A failed publish is counted (and fails the run), not thrown: the row still shows what happened.
      await paced(n, rate, (i) => send(path, rate, i).catch(() => void publishFailed++));
      const deadline = Date.now() + 60_000;
      while (lat.length < n - publishFailed && Date.now() < deadline) await sleep(10);
      const secs = (performance.now() - t0) / 1000;
      rows.push({ path, rate: rate ? `${rate}/s` : "saturation", sent: n, publish_failed: publishFailed, ...latencyCols(lat), msgs_per_s: Math.round(lat.length / secs) });
    }
  }
  await rawMsgs.close();
  for (const s of sidecars) await s.stop("bench done");
  await hooks.close();
  return { rows: tailColumns(rows), httpPostP50: summarize(post).p50, httpPostN: post.length, unsealed };
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
export async function eventThroughput(ctx: BenchContext): Promise<{ rows: EventRow[]; replay: ReplayRow[]; failures: string[] }> {
  const n = ctx.quick ? 500 : 20000;
  const flushMs = 60_000;
  // Both paths publish as the same identity, on its own authenticated connection (events.<id>.>).
  const who = `${ctx.tag}-ev`;
  await ctx.broker.addIdentities([who]);
  const nc = await ctx.broker.as(who);
  const js = jetstream(nc);
  const rows: EventRow[] = [];
  for (const path of ["raw nats.js", "mesh EventPublisher (signed)"] as const) {
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
      const ev = new EventPublisher(nc, who, quiet);
      for (let i = 0; i < n; i++) {
        ev.emit("job.started", { jobId: String(i), queue: "bench", attempt: 1 });
        if (i % 1024 === 1023) await ev.flush(flushMs);
      }
      await ev.flush(flushMs);
      published = ev.published;
      failed = ev.failed;
      // flush() returns after flushMs whether or not every publish settled: what is left timed out.
      unsettled = n - ev.published - ev.failed;
      await ev.close(0);
    }
    const secs = (performance.now() - t0) / 1000;
    rows.push({ path, n, published, failed, unsettled_after_flush: unsettled, msgs_per_s: Math.round(published / secs) });
  }
  const replay = await eventReplay(ctx, nc, who);
  const failures = rows.flatMap((r) => [
    ...(r.failed > 0 ? [`events (${r.path}): ${r.failed} of ${r.n} publishes failed`] : []),
    ...(r.unsettled_after_flush > 0 ? [`events (${r.path}): ${r.unsettled_after_flush} of ${r.n} publishes unsettled after a ${flushMs / 1000} s flush`] : []),
  ]);
  failures.push(...replay.filter((r) => r.read !== r.n).map((r) => `events replay (${r.path}): read ${r.read} of ${r.n}`));
  return { rows, replay, failures };
}

export interface ReplayRow {
  path: string;
  n: number;
  read: number;
  ms: number;
  msgs_per_s: number;
}

/**
 * Replaying those events (`mesh sub 'events.<who>.>' --since 1h`), three ways: an ordered consumer
 * on EVENTS with the admin's credential (raw nats.js: what replay was before identities lost their
 * consumers there), and by direct get with the identity's own credential, from EVENTS and from its
 * HISTORY-<who> (src/bus/replay.ts; what `mesh sub` does now).
 */
async function eventReplay(ctx: BenchContext, nc: NatsConnection, who: string): Promise<ReplayRow[]> {
  const pattern = `events.${who}.>`;
  // What EVENTS keeps of them (10 000 per subject), which HISTORY-<who> keeps too.
  const jsm = await jetstreamManager(ctx.broker.admin);
  const n = Object.values((await jsm.streams.info("EVENTS", { subjects_filter: pattern })).state.subjects ?? {}).reduce((a, b) => a + b, 0);
  const rows: ReplayRow[] = [];
  const row = (path: string, read: number, t0: number): void => {
    const ms = performance.now() - t0;
    rows.push({ path, n, read, ms: Math.round(ms), msgs_per_s: Math.round(read / (ms / 1000)) });
  };
  {
    const t0 = performance.now();
    const c = await jetstream(ctx.broker.admin).consumers.get("EVENTS", { filter_subjects: pattern });
    let read = 0;
    while (read < n) {
      const batch = await c.fetch({ max_messages: Math.min(1000, n - read), expires: 5000 });
      let got = 0;
      for await (const _ of batch) got++;
      if (got === 0) break;
      read += got;
    }
    await c.delete().catch(() => undefined);
    row("raw nats.js: ordered consumer on EVENTS (admin)", read, t0);
  }
  await until(async () => (await jsm.streams.info(historyStreamName(who))).state.messages >= n);
  for (const stream of ["EVENTS", historyStreamName(who)]) {
    const t0 = performance.now();
    let read = 0;
    await replayDirect(nc, stream, { pattern, sinceMs: 3_600_000, max: n }, () => read++);
    row(`mesh: direct get from ${stream === "EVENTS" ? "EVENTS" : "HISTORY-<id>"} (the identity)`, read, t0);
  }
  return rows;
}

async function until(f: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** 3. CLI cold start: `mesh send` vs a bare node script that connects and publishes with nats.js. */
export async function cliColdStart(ctx: BenchContext): Promise<Array<{ command: string; runs: number; median_ms: number }>> {
  const runs = ctx.quick ? 5 : 20;
  // The recipient's inbox exists (after add-identity); both commands connect with the sender's
  // credential and publish one message into its lane (mesh send also signs it).
  const to = `${ctx.tag}-cli`;
  const from = `${ctx.tag}-clis`;
  await ctx.broker.addIdentities([to, from]);
  const creds = ctx.broker.creds(from);
  if (!creds) throw new Error("the CLI scenario runs on the secure broker");
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const main = join(root, "dist", "bin", "mesh.js");
  const dir = mkdtempSync(join(tmpdir(), "mesh-bench-cli-"));
  // Resolved by node itself (the bench may run under vite-node, which has no import.meta.resolve).
  const resolveModule = (spec: string): string =>
    execFileSync(process.execPath, ["--input-type=module", "-e", `console.log(import.meta.resolve(${JSON.stringify(spec)}))`], { cwd: root, encoding: "utf8" }).trim();
  const transport = resolveModule("@nats-io/transport-node");
  const jsmod = resolveModule("@nats-io/jetstream");
  const bare = join(dir, "bare.mjs");
  writeFileSync(
    bare,
    `import { connect, nkeyAuthenticator } from ${JSON.stringify(transport)};\nimport { jetstream } from ${JSON.stringify(jsmod)};\nimport { readFileSync } from "node:fs";\n` +
      `const seed = readFileSync(process.env.CREDS, "utf8").split("\\n").find((l) => l.startsWith("S"));\n` +
      `const nc = await connect({ servers: process.env.S.split(","), authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)), inboxPrefix: "_INBOX_${from}" });\n` +
      `const ack = await jetstream(nc).publish(${JSON.stringify(inboxSubject(to, from))}, JSON.stringify({ body: "hi" }));\n` +
      `console.log("sent", ack.seq);\nawait nc.drain();\n`,
  );
  const servers = ctx.broker.url;
  const time = (argv: string[]): number[] => {
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      const r = spawnSync(process.execPath, argv, { env: { ...process.env, S: servers, CREDS: creds, MESH_SERVER: ctx.broker.url, MESH_CREDS: creds, MESH_IDENTITY: from }, encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
      xs.push(performance.now() - t);
    }
    return xs;
  };
  time([bare]); // warm the file cache for both
  time([main, "send", to, "hi"]);
  const rows = [
    { command: "node bare.mjs (nats.js nkey connect + JetStream publish)", runs, median_ms: summarize(time([bare])).p50 },
    { command: `mesh send ${to} hi (signed)`, runs, median_ms: summarize(time([main, "send", to, "hi"])).p50 },
  ];
  rmSync(dir, { recursive: true, force: true });
  return rows;
}

/** 4. Jobs: 3 workers × 30 equal jobs; makespan vs ideal, per worker, duplicates. */
export async function jobsSpread(ctx: BenchContext): Promise<{ workers: Record<string, number>; makespanMs: number; idealMs: number; duplicates: number; lost: number }> {
  const duration = ctx.quick ? 100 : 500;
  const queue = `${ctx.tag}-jobs`;
  const submitter = `${ctx.tag}-jsub`;
  const workerIds = ["w1", "w2", "w3"].map((w) => `${ctx.tag}-${w}`);
  await ctx.broker.addIdentities([submitter]);
  await ctx.broker.addIdentities(workerIds, { queues: [queue] });
  const nc = await ctx.broker.as(submitter);
  const ends: HooksEndpoint[] = [];
  const workers: Sidecar[] = [];
  for (const w of workerIds) {
    const hooks = await startHooksEndpoint();
    ends.push(hooks);
    workers.push(await sidecar(ctx.broker, w, hooks, { agent: openclawHooksAgent({ endpoint: { url: hooks.url, hooksPath: "/hooks", hooksToken: hooks.token }, replies: stubReplies(hooks, duration) }), jobs: { queues: [queue] } }));
  }
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) ids.push((await submitJob(nc, { from: submitter, task: `job ${i}`, queue })).id);
  const done = await Promise.all(ids.map((id) => waitForJob(nc, id, 120_000)));
  const makespanMs = Math.round(performance.now() - t0);
  const posts = ends.flatMap((h) => h.received.map((r) => /\[mesh job ([0-9a-f-]+)\]/.exec(r.body.message ?? "")?.[1]).filter(Boolean));
  const per: Record<string, number> = {};
  for (const d of done) per[d.worker ?? "?"] = (per[d.worker ?? "?"] ?? 0) + 1;
  for (const w of workers) await w.stop("bench done");
  for (const h of ends) await h.close();
  return { workers: per, makespanMs, idealMs: 10 * duration, duplicates: posts.length - new Set(posts).size, lost: ids.filter((id) => !done.find((d) => d.id === id && d.state === "done")).length };
}

