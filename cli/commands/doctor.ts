import { doctor } from "../../src/ops/doctor.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, resolved } from "./common.js";

export async function doctorCmd(opts: GlobalOptions & { json?: boolean; platform?: string }): Promise<number> {
  const r = await resolved(opts);
  const checks = await doctor(r, opts.platform ? { platform: opts.platform as NodeJS.Platform } : {});
  const failed = checks.filter((c) => c.status === "fail");
  if (opts.json) printJson({ ok: failed.length === 0, checks });
  else {
    for (const c of checks) {
      const mark = c.status === "ok" ? "✓" : c.status === "skip" ? "-" : "✗";
      process.stdout.write(`${mark} ${c.name.padEnd(18)} ${c.detail}\n`);
      if (c.fix) process.stdout.write(`  ${"".padEnd(18)} fix: ${c.fix}\n`);
    }
    process.stdout.write(failed.length ? `\n${failed.length} problem${failed.length > 1 ? "s" : ""}\n` : "\nall good\n");
  }
  return failed.length ? 1 : 0;
}
