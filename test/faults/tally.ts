import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** One row of RELIABILITY.md: what a scenario sent and what the gateway saw. */
export interface Tally {
  scenario: string;
  sent: number;
  acknowledged: number;
  delivered: number;
  duplicates: number;
  lost: number;
  notes: string;
}

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = join(root, ".cache", "reliability");

/** Counts from the hooks endpoint: unique keys delivered vs what the broker acknowledged. */
export function count(acked: string[], deliveredKeys: string[]): Pick<Tally, "acknowledged" | "delivered" | "duplicates" | "lost"> {
  const unique = new Set(deliveredKeys);
  return {
    acknowledged: acked.length,
    delivered: unique.size,
    duplicates: deliveredKeys.length - unique.size,
    lost: acked.filter((k) => !unique.has(k)).length,
  };
}

export function record(t: Tally): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${t.scenario.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}.json`), JSON.stringify(t));
  const rows = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as Tally)
    .sort((a, b) => a.scenario.localeCompare(b.scenario));
  const md = [
    "# Reliability",
    "",
    `Fault-injection results from the last \`npm run test:faults\` on this machine (${new Date().toISOString()}; real nats-server`,
    "2.9.10 under testcontainers or as a process; the gateway is a local endpoint speaking the hooks contract, with the",
    "gateway's Idempotency-Key replay, since the same paths are covered against a real OpenClaw gateway in",
    "`test/integration/sidecar-gateway.test.ts`). *Delivered* counts distinct agent turns the gateway started;",
    "*duplicates* counts turns started twice; *lost* counts messages the broker acknowledged that never reached the gateway.",
    "",
    "| scenario | sent | acknowledged | delivered | duplicates | lost | notes |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.scenario} | ${r.sent} | ${r.acknowledged} | ${r.delivered} | ${r.duplicates} | ${r.lost} | ${r.notes} |`),
    "",
  ];
  writeFileSync(join(root, "RELIABILITY.md"), md.join("\n"));
}
