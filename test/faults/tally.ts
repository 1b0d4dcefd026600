/**
 * RELIABILITY.md, written from the rows the fault scenarios of ONE vitest run record. Every cell comes
 * from that run's observations (see test/README.md); a scenario with no row from this run is listed
 * by name as "not run in this run", never with numbers from an earlier run.
 *
 * MESH_RELIABILITY_FILE writes the table elsewhere (e.g. a scratch path while working on one scenario).
 */
import { measuredCommit } from "../support/commit.js";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { onTestFinished } from "vitest";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { isMainThread } from "node:worker_threads";
import type { NatsConnection } from "@nats-io/nats-core";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";

/** How many of something arrived, and how many of those were a repeat of one that had already arrived. */
export interface Counted {
  count: number;
  duplicates: number;
}

/** One row of the message scenarios: what was sent and what each observer saw. */
export interface Tally {
  scenario: string;
  /** The broker as observed: harness kind and the version the server reported on connect (nc.info.version). */
  broker: string;
  sent: number;
  /** Publishes the broker acknowledged (PubAck received). */
  acknowledged: number;
  /** Every POST the gateway stand-in received for these messages, Idempotency-Key replays included. Absent: no gateway in the scenario. */
  posts?: Counted;
  /** Agent turns the gateway stand-in started (a replayed POST starts none). Absent: no gateway in the scenario. */
  turns?: Counted;
  /** Messages read back through the durable consumer (scenarios without a gateway). */
  reads?: Counted;
  /** Acknowledged messages that no observer of this row saw. */
  lost: number;
  notes: string;
}

/** One row of the property checks: plain functions, no broker, nothing sent or acknowledged. */
export interface PropertyTally {
  scenario: string;
  /** Generated inputs the property function actually ran on (counted inside it). */
  inputs: number;
  /** fast-check's verdict over those inputs. */
  held: boolean;
  notes: string;
}

interface Stored {
  run: string;
  runStartedAt: string;
  recordedAt: string;
  row: ({ type: "messages" } & Tally) | ({ type: "property" } & PropertyTally);
  /** The scenario's own assertions, once its test finished: a row is shown with them, never before. */
  result?: "pass" | "fail";
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = join(root, ".cache", "reliability");
const out = process.env.MESH_RELIABILITY_FILE ?? join(root, "RELIABILITY.md");

/**
 * This vitest run: its main process (the parent of a forks-pool worker, or this process with the
 * threads pool), identified by pid and start time so a reused pid is not mistaken for the same run.
 */
function currentRun(): { id: string; startedAt: string } {
  const pid = isMainThread ? process.ppid : process.pid;
  let started = "";
  try {
    started = execFileSync("ps", ["-o", "lstart=", "-p", String(pid)], { encoding: "utf8" }).trim();
  } catch {
    /* no ps: fall back to the pid alone */
  }
  const at = started ? new Date(started) : undefined;
  const startedAt = at && !Number.isNaN(at.getTime()) ? at.toISOString() : "unknown (ps not available)";
  return { id: `${pid}-${started.replace(/[^0-9A-Za-z]+/g, "-")}`, startedAt };
}

/** The broker cell: the harness kind and the version the connected server reports (nc.info). */
export function observedBroker(kind: string, nc: NatsConnection): string {
  const info = nc.info;
  if (!info) throw new Error("the connection has no server info (closed?): cannot say which nats-server this ran against");
  return `${kind}, nats-server ${info.version}`;
}

const slug = (s: string): string => s.replace(/[^a-z0-9]+/gi, "-").toLowerCase();

/** The first `#key#` marker in a text (the fault stream puts one in every message). */
export function keyOf(text: string | undefined): string | undefined {
  return /#([^#]+)#/.exec(text ?? "")?.[1];
}

function counted(keys: string[]): Counted {
  return { count: keys.length, duplicates: keys.length - new Set(keys).size };
}

/**
 * Counts from the gateway stand-in for the messages of a stream: every POST (replays included) and
 * every turn started, with the repeats of each; lost = acknowledged keys no turn carried.
 */
export function count(acked: string[], hooks: HooksEndpoint): Pick<Tally, "acknowledged" | "posts" | "turns" | "lost"> {
  const posted = hooks.postLog.map((p) => keyOf(typeof p.body?.message === "string" ? p.body.message : undefined)).filter((k): k is string => k !== undefined);
  const turned = hooks.received.map((h) => keyOf(h.body.message)).filter((k): k is string => k !== undefined);
  const seen = new Set(turned);
  return {
    acknowledged: acked.length,
    posts: counted(posted),
    turns: counted(turned),
    lost: acked.filter((k) => !seen.has(k)).length,
  };
}

/** Counts for messages read back through a consumer (no gateway). */
export function countReads(acked: string[], readKeys: string[]): Pick<Tally, "acknowledged" | "reads" | "lost"> {
  const seen = new Set(readKeys);
  return { acknowledged: acked.length, reads: counted(readKeys), lost: acked.filter((k) => !seen.has(k)).length };
}

export function record(t: Tally): void {
  store({ type: "messages", ...t });
}

export function recordProperty(t: PropertyTally): void {
  store({ type: "property", ...t });
}

function store(row: Stored["row"]): void {
  const run = currentRun();
  mkdirSync(dir, { recursive: true });
  const s: Stored = { run: run.id, runStartedAt: run.startedAt, recordedAt: new Date().toISOString(), row };
  const file = join(dir, `${slug(row.scenario)}.json`);
  writeFileSync(file, JSON.stringify(s));
  // The row is recorded before the scenario's assertions run; its result is filled in after they did.
  onTestFinished(({ task }) => {
    writeFileSync(file, JSON.stringify({ ...s, result: task.result?.state === "pass" ? "pass" : "fail" }));
    render(run.id);
  });
  render(run.id);
}

const cell = (c: Counted | undefined): string => (c ? String(c.count) : "–");
const dup = (c: Counted | undefined): string => (c ? String(c.duplicates) : "–");

function render(runId: string): void {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as Partial<Stored> & { scenario?: string });
  const mine = files
    .filter((s): s is Stored => s.run === runId && typeof s.row === "object" && s.row !== null)
    .sort((a, b) => a.row.scenario.localeCompare(b.row.scenario));
  // Rows cached by an earlier run (or in the older format, without a run id): named, never shown as results.
  const notRun = [...new Set(files.filter((s) => s.run !== runId).map((s) => s.row?.scenario ?? s.scenario).filter((n): n is string => typeof n === "string"))].sort();
  const messages = mine.flatMap((s) => (s.row.type === "messages" ? [s.row] : []));
  const properties = mine.flatMap((s) => (s.row.type === "property" ? [s.row] : []));
  const brokers = [...new Set(messages.map((m) => m.broker))];
  const times = mine.map((s) => s.recordedAt).sort();
  const md = [
    "# Reliability",
    "",
    `Fault-injection results from one \`vitest --config vitest.faults.config.ts\` run (run started ${mine[0]?.runStartedAt ?? "?"};`,
    `rows recorded ${times[0] ?? "?"} to ${times.at(-1) ?? "?"}; node ${process.version}; broker${brokers.length === 1 ? "" : "s"} as observed: ${brokers.join("; ") || "none"}).`,
    `Code measured: commit ${measuredCommit()}.`,
    "Every cell was observed in that run (test/README.md); *result* is the scenario's own assertions, written after they",
    "ran (a row of a scenario still running reads \"running\"). The gateway here is a local endpoint speaking the hooks",
    "contract, with the gateway's Idempotency-Key replay. Against a real OpenClaw gateway only these paths are covered",
    "(by `npm test`, not by this table): a stopped gateway whose waiting messages are each delivered once, in order, when",
    "it starts again (hooks bridge: `test/integration/sidecar-gateway.test.ts`; A2A bridge: `a2a-bridge.test.ts`), and",
    "a wrong hooks token dead-lettered with the reason. Broker restart, SIGKILL, the slow gateway, bad input and the",
    "cluster rows have no real-gateway counterpart.",
    "",
    "*POSTs*: requests the gateway received for the stream's messages, replays included; *turns*: agent turns it started",
    "(a replayed POST starts none); *dup*: arrivals of a message that had already arrived that way; *read back*: messages",
    "read through the durable consumer (no gateway in that scenario); *lost*: acknowledged messages never seen; –: no",
    "such observer in that scenario.",
    "",
    "| scenario | result | broker | sent | acknowledged | POSTs | dup POSTs | turns | dup turns | read back | dup reads | lost | notes |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...mine.flatMap((st) => (st.row.type === "messages" ? [{ r: st.row, result: st.result }] : [])).map(
      ({ r, result }) =>
        `| ${r.scenario} | ${result ?? "running"} | ${r.broker} | ${r.sent} | ${r.acknowledged} | ${cell(r.posts)} | ${dup(r.posts)} | ${cell(r.turns)} | ${dup(r.turns)} | ${cell(r.reads)} | ${dup(r.reads)} | ${r.lost} | ${r.notes} |`,
    ),
    "",
    ...(properties.length > 0
      ? [
          "Property checks (plain functions, no broker: nothing is sent or acknowledged):",
          "",
          "| check | result | generated inputs checked | property held | notes |",
          "|---|---|---|---|---|",
          ...mine.flatMap((st) => (st.row.type === "property" ? [{ p: st.row, result: st.result }] : [])).map(
            ({ p, result }) => `| ${p.scenario} | ${result ?? "running"} | ${p.inputs} | ${p.held ? "yes" : "NO"} | ${p.notes} |`,
          ),
          "",
        ]
      : []),
    ...(notRun.length > 0 ? ["Not run in this run (no results shown for them): " + notRun.join("; ") + ".", ""] : []),
  ];
  writeFileSync(out, md.join("\n"));
}
