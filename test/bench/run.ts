import { measuredCommit } from "../support/commit.js";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { provision } from "../../broker/provision.js";
import { startLocalBroker, type LocalBroker } from "../../broker/local.js";
import { connectMesh } from "../../src/bus/connection.js";
import { VERSION } from "../../src/base/version.js";
import { cliColdStart, eventThroughput, inboxLatency, jobsSpread, scale, type BenchContext } from "./scenarios.js";
import { markdownTable, round, table } from "./stats.js";
import { a2aVsDirect } from "./a2a.js";
import { createServer } from "node:net";

export const SCENARIOS = ["inbox", "events", "cli", "jobs", "scale", "a2a"] as const;
export type Scenario = (typeof SCENARIOS)[number];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** A run that finished with failures (its results are written first, then the run fails). */
export class BenchFailed extends Error {
  constructor(readonly failures: string[]) {
    super(`${failures.length} failure(s):\n  ${failures.join("\n  ")}`);
    this.name = "BenchFailed";
  }
}

export interface BenchOptions {
  server?: string;
  creds?: string;
  quick?: boolean;
  only?: Scenario[];
  out?: string;
  markdown?: string;
  log?: (s: string) => void;
}

/** `npm run bench`: every scenario, ratios against raw nats.js in the same run. */
export async function runBench(o: BenchOptions): Promise<Record<string, unknown>> {
  const log = o.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  let broker: LocalBroker | undefined;
  let stateDir: string | undefined;
  let server = o.server;
  if (!server) {
    stateDir = mkdtempSync(join(tmpdir(), "mesh-bench-broker-"));
    broker = await startLocalBroker({ stateDir, port: await freePort(), monitorPort: await freePort(), serverName: "mesh-bench" });
    server = broker.url;
  }
  const nc = await connectMesh({ server, ...(o.creds ? { creds: o.creds } : {}), name: "mesh-bench" });
  const ctx: BenchContext = { server, nc, quick: Boolean(o.quick), tag: `bench-${randomBytes(3).toString("hex")}`, ...(o.creds ? { creds: o.creds } : {}) };
  const want = (s: Scenario): boolean => !o.only || o.only.includes(s);
  const results: Record<string, unknown> = {
    when: new Date().toISOString(),
    version: VERSION,
    natsServer: nc.info?.version,
    node: process.version,
    machine: `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 1024 ** 3)} GiB`,
    quick: ctx.quick,
  };
  const md: string[] = [];
  /** What went wrong in a scenario that still finished (lost messages, failed publishes…): the run fails. */
  const failures: string[] = [];
  try {
    if (!o.server) await provision(nc);
    const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
      const t = Date.now();
      const r = await f();
      log(`(${name}: ${Math.round((Date.now() - t) / 1000)} s)`);
      return r;
    };
    if (want("inbox")) {
      log("\n1. inbox end-to-end latency (publish → hooks POST received; 4 senders) vs raw nats.js publish → consume");
      const r = await timed("inbox", () => inboxLatency(ctx));
      log(table(r.rows as never));
      const ratios = [];
      for (const rate of [...new Set(r.rows.map((x) => x.rate))]) {
        const raw = r.rows.find((x) => x.rate === rate && x.path === "raw nats.js")!;
        const mesh = r.rows.find((x) => x.rate === rate && x.path === "mesh")!;
        const target = raw.p99_ms * 1.5 + r.httpPostP50;
        ratios.push({ rate, "mesh p99 / raw p99": round(mesh.p99_ms / raw.p99_ms), "target p99 (1.5×raw + POST)": round(target), "mesh p99": mesh.p99_ms, met: mesh.p99_ms <= target ? "yes" : "no" });
      }
      log(`one local HTTP POST p50: ${r.httpPostP50} ms`);
      log(table(ratios as never));
      for (const row of r.rows) if (row.n < row.sent) failures.push(`inbox (${row.path}, ${row.rate}): ${row.sent - row.n} of ${row.sent} messages not received in 60 s`);
      results.inbox = { ...r, ratios };
      md.push("## 1. Inbox end-to-end latency", "", markdownTable(r.rows as never), "", `One local HTTP POST: p50 ${r.httpPostP50} ms.`, "", markdownTable(ratios as never), "");
    }
    if (want("events")) {
      log("\n2. event publishing throughput");
      const { rows: r, failures: f } = await eventThroughput(ctx);
      const ratio = round(r[1]!.msgs_per_s / r[0]!.msgs_per_s);
      log(table(r as never));
      log(`ratio mesh/raw: ${ratio} (target ≥ 0.8)`);
      failures.push(...f);
      results.events = { rows: r, ratio, failures: f };
      md.push(
        "## 2. Event throughput",
        "",
        markdownTable(r as never),
        "",
        `Ratio mesh / raw: **${ratio}** (target ≥ 0.8), acknowledged publishes only. A failed publish or one still unsettled when the flush gave up fails the run.`,
        "",
      );
    }
    if (want("cli")) {
      log("\n3. CLI cold start");
      const r = await cliColdStart(ctx);
      const ratio = round(r[1]!.median_ms / r[0]!.median_ms);
      log(table(r as never));
      log(`ratio mesh/bare: ${ratio} (target ≤ 1.3)`);
      results.cli = { rows: r, ratio };
      md.push("## 3. CLI cold start", "", markdownTable(r as never), "", `Ratio mesh / bare: **${ratio}** (target ≤ 1.3).`, "");
    }
    if (want("jobs")) {
      log("\n4. jobs: 3 workers × 30 equal jobs");
      const r = await timed("jobs", () => jobsSpread(ctx));
      const ratio = round(r.makespanMs / r.idealMs);
      log(`per worker ${JSON.stringify(r.workers)}; makespan ${r.makespanMs} ms vs ideal ${r.idealMs} ms = ${ratio}× (target ≤ 1.15); duplicates ${r.duplicates}; lost ${r.lost}`);
      if (r.duplicates > 0) failures.push(`jobs: ${r.duplicates} job(s) run twice`);
      if (r.lost > 0) failures.push(`jobs: ${r.lost} job(s) not done`);
      results.jobs = { ...r, ratio };
      md.push("## 4. Jobs (3 workers × 30 equal jobs)", "", `Jobs per worker: ${Object.values(r.workers).join(" / ")}; makespan ${r.makespanMs} ms vs ideal ${r.idealMs} ms = **${ratio}×** (target ≤ 1.15); duplicates ${r.duplicates}; lost ${r.lost}.`, "");
    }
    if (want("scale")) {
      log("\n5. scale: identities with sidecars on one broker (one `mesh sidecar` process each)");
      const { rows: r, failures: f } = await timed("scale", () => scale(ctx));
      log(table(r as never));
      failures.push(...f);
      results.scale = { rows: r, failures: f };
      md.push(
        "## 5. Scale",
        "",
        "Each identity is a separate `mesh sidecar` process (dist/cli/main.js, hooks bridge to the stand-in endpoint, jobs off). Memory is each",
        "process's resident set (VmRSS) after it started, delivered its share and settled 1 s; the baseline is a node process holding",
        "one bare nats.js connection, measured at the same moment.",
        "",
        markdownTable(r as never),
        "",
      );
    }
    if (want("a2a")) {
      log("\n6. agents talking: OpenClaw's direct A2A peering vs the mesh (two real gateways, stub model)");
      const r = await timed("a2a", () => a2aVsDirect(ctx));
      log(table(r.rows as never));
      log(`ratio mesh/direct: p50 ${r.ratioP50}×, p99 ${r.ratioP99}× (aim ≤ 1.1)`);
      log(table(r.stream as never));
      log(table(r.down as never));
      for (const row of r.rows) if (row.failed > 0) failures.push(`a2a (${row.path.split(" (")[0]}): ${row.failed} of ${row.n} turns failed`);
      results.a2a = r;
      md.push(
        "## 6. Agents talking: direct A2A vs the mesh",
        "",
        "Two real OpenClaw gateways (2026.9.6, A2A channel on), a stub model that answers at once, one A2A client measuring",
        "SendMessage → the peer agent's answer. Interleaved runs after one completed warm-up turn per path; a failed turn is counted, not timed.",
        "",
        markdownTable(r.rows as never),
        "",
        `Ratio mesh / direct: p50 **${r.ratioP50}×**, p99 **${r.ratioP99}×** (aim ≤ 1.1; p99 is "n/a" below 200 samples). What the mesh adds:`,
        "two JetStream hops, two sidecar deliveries with a journal fsync each, and nova's sidecar polling nova's gateway with GetTask",
        "(the client's side is events: clawd's A2A server answers the blocking SendMessage when the reply arrives).",
        "",
        "Streamed through the mesh (SendStreamingMessage, SSE): when the client hears first vs when it has the answer.",
        "",
        markdownTable(r.stream as never),
        "",
        "While nova's gateway is down:",
        "",
        markdownTable(r.down as never),
        "",
      );
    }
    results.failures = failures;
  } finally {
    await nc.close();
    await broker?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  }
  if (o.out) {
    mkdirSync(dirname(o.out), { recursive: true });
    writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
    log(`\nresults: ${o.out}`);
  }
  if (o.markdown) {
    const head = [
      "# Benchmarks",
      "",
      `Latest run: ${results.when} — openclaw-mesh ${VERSION}, nats-server ${results.natsServer}, Node ${results.node}, ${results.machine}.`,
      `Code measured: commit ${measuredCommit()}.`,
      "One bench process drives everything against one local nats-server (scenario 3 starts a process per run, scenario 5 a",
      "`mesh sidecar` process per identity, scenario 6 two gateways); absolute times on a shared 2-core machine are noise,",
      "the ratios against raw nats.js measured in the same run are what to read. Reproduce: `npm run bench`",
      "(or `vite-node test/bench/main.ts --server …` against your own mesh). Raw JSON: `bench/results/latest.json`.",
      "",
      failures.length === 0
        ? "Failures in this run (lost or undelivered messages, failed or timed-out publishes, jobs run twice or not done, failed turns): **none**."
        : `**This run failed** (${failures.length}): ${failures.join("; ")}.`,
      "",
    ];
    writeFileSync(o.markdown, `${[...head, ...md].join("\n")}\n`);
    log(`markdown: ${o.markdown}`);
  }
  if (failures.length > 0) throw new BenchFailed(failures);
  log("\nno failures");
  return results;
}
