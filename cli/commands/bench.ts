import { runBench, SCENARIOS, type Scenario } from "../../src/bench/run.js";
import { MeshError } from "../../src/errors.js";
import type { GlobalOptions } from "../../src/config.js";

export async function bench(opts: GlobalOptions & { quick?: boolean; only?: string; out?: string; markdown?: string; local?: boolean }): Promise<void> {
  const only = opts.only?.split(",").map((s) => s.trim()) as Scenario[] | undefined;
  for (const s of only ?? []) if (!SCENARIOS.includes(s)) throw new MeshError(`unknown scenario ${s} (one of ${SCENARIOS.join(", ")})`);
  await runBench({
    ...(opts.local || !opts.server ? {} : { server: opts.server }),
    ...(opts.creds ? { creds: opts.creds } : {}),
    quick: Boolean(opts.quick),
    ...(only ? { only } : {}),
    ...(opts.out ? { out: opts.out } : {}),
    ...(opts.markdown ? { markdown: opts.markdown } : {}),
  });
}
