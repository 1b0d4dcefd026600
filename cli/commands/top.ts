import { connectionOf, type GlobalOptions } from "../../src/config/config.js";
import { topFrame } from "../../src/ops/top.js";
import { connectMesh } from "../../src/bus/connection.js";
import { resolved } from "./common.js";

export async function top(opts: GlobalOptions & { once?: boolean; interval: string }): Promise<void> {
  const r = await resolved(opts);
  const nc = await connectMesh({ ...connectionOf(r), name: "mesh-top", persistent: !opts.once });
  try {
    if (opts.once) {
      process.stdout.write(`${await topFrame(nc, { width: process.stdout.columns ?? 120, ...(r.identity ? { self: r.identity } : {}) })}\n`);
      return;
    }
    let stop = false;
    process.once("SIGINT", () => (stop = true));
    while (!stop) {
      const frame = await topFrame(nc, { width: process.stdout.columns ?? 120, events: Math.max(5, (process.stdout.rows ?? 30) - 20), ...(r.identity ? { self: r.identity } : {}) }).catch(
        (err: Error) => `mesh top: ${err.message}`,
      );
      process.stdout.write(`\x1b[H\x1b[2J${frame}\n\n(Ctrl-C to quit)\n`);
      await new Promise((res) => setTimeout(res, Number(opts.interval) || 2000));
    }
  } finally {
    await nc.close();
  }
}
