/**
 * `npm run bench` / `npm run bench:smoke`: runs the scenarios of run.ts and writes the results.
 * Lives under test/ with its stand-in endpoint, so nothing of it ships in the package.
 *   --quick            a short smoke run
 *   --only a,b         scenarios: inbox,events,cli,jobs,identities,a2a,leaf
 *   --out <file>       results as JSON
 *   --markdown <file>  tables as Markdown (BENCHMARKS.md)
 * Every scenario runs on throwaway local nats-servers the bench starts: a secure one (auth, a
 * credential per identity, signed envelopes) and, for the rows labelled "open mesh", an open one.
 * Exits 1 when a scenario cannot run (it says why) or reports a failure (lost or undelivered
 * messages, failed or timed-out publishes, jobs run twice or not done, failed turns); the results
 * are written first.
 */
import { parseArgs } from "node:util";
import { BenchFailed, runBench, SCENARIOS, type Scenario } from "./run.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean" },
    only: { type: "string" },
    out: { type: "string" },
    markdown: { type: "string" },
  },
  allowPositionals: false,
});
const only = values.only?.split(",").map((s) => s.trim());
for (const s of only ?? []) {
  if (!(SCENARIOS as readonly string[]).includes(s)) {
    process.stderr.write(`bench: unknown scenario ${s} (one of ${SCENARIOS.join(", ")})\n`);
    process.exit(2);
  }
}
// Exit when done (or failed), even if a library left a timer behind: CI must never wait on a bench.
runBench({
  quick: Boolean(values.quick),
  ...(only ? { only: only as Scenario[] } : {}),
  ...(values.out ? { out: values.out } : {}),
  ...(values.markdown ? { markdown: values.markdown } : {}),
}).then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench: ${err instanceof BenchFailed ? err.message : (err.stack ?? err.message)}\n`);
    process.exit(1);
  },
);
