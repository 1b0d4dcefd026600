/** `mesh top`: a live view in the terminal. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import type { GlobalOptions } from "../../src/config/config.js";
import { configFor, run } from "./common.js";

export function register(program: Command): void {
  program
    .command("top")
    .description("a live view: peers, inbox depths, the job queue, recent events")
    .option("--once", "print one frame and exit")
    .option("--interval <ms>", "refresh interval", "2000")
    .action(run(top));
}

async function top(opts: GlobalOptions & { once?: boolean; interval: string }): Promise<void> {
  const [{ connectionOf }, { topFrame }, { connectMesh }] = await Promise.all([
    import("../../src/config/config.js"),
    import("../../src/ops/top.js"),
    import("../../src/bus/connection.js"),
  ]);
  const r = await configFor(opts);
  const nc = await connectMesh({ ...connectionOf(r), name: "mesh-top", persistent: !opts.once });
  try {
    if (opts.once) {
      process.stdout.write(`${await topFrame(nc, { width: process.stdout.columns ?? 120, ...(r.identity ? { self: r.identity } : {}), ...(r.config.leaf ? { leaf: r.config.leaf } : {}) })}\n`);
      return;
    }
    let stop = false;
    process.once("SIGINT", () => (stop = true));
    while (!stop) {
      const frame = await topFrame(nc, { width: process.stdout.columns ?? 120, events: Math.max(5, (process.stdout.rows ?? 30) - 20), ...(r.identity ? { self: r.identity } : {}), ...(r.config.leaf ? { leaf: r.config.leaf } : {}) }).catch(
        (err: Error) => `mesh top: ${err.message}`,
      );
      process.stdout.write(`\x1b[H\x1b[2J${frame}\n\n(Ctrl-C to quit)\n`);
      await new Promise((res) => setTimeout(res, Number(opts.interval) || 2000));
    }
  } finally {
    await nc.close();
  }
}
