/** `mesh doctor`: check this machine's setup. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import { MeshError, oneLine } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, printJson, configFor, run } from "./common.js";

export function register(program: Command): void {
  program
    .command("doctor")
    .description("check this machine's mesh setup; a one-line fix for each problem")
    .addOption(jsonFlag("print the checks as JSON"))
    .option("--format <format>", "text (default), or for monitoring as `nats server check` does: nagios, json, prometheus")
    .option("--platform <os>", "check the service as on darwin (launchd) or linux (systemd); default this machine's")
    .addHelpText(
      "after",
      `
Exit code 1 when any check fails. With --format nagios|json|prometheus the exit codes are nats server
check's: 0 OK, 2 CRITICAL (a check failed), 3 UNKNOWN (doctor could not run).

Examples:
  $ mesh doctor
  $ mesh doctor --format nagios        # CRITICAL mesh doctor: broker reachable: … | ok=9 critical=1 skipped=2
  $ mesh doctor --format prometheus > /var/lib/node_exporter/textfile/mesh.prom`,
    )
    .action(run(doctorCmd));
}

async function doctorCmd(opts: GlobalOptions & { json?: boolean; platform?: string; format?: string }): Promise<number> {
  const [{ doctor }, { formatCheckJson, formatNagios, formatPrometheus, formatUnknown }] = await Promise.all([
    import("../../src/ops/doctor.js"),
    import("../../src/ops/doctor-format.js"),
  ]);
  const format = opts.format;
  if (format !== undefined && !["text", "nagios", "json", "prometheus"].includes(format)) throw new MeshError(`--format ${format}: one of text, nagios, json, prometheus`, 2);
  if (format === "nagios" || format === "json" || format === "prometheus") {
    // For monitoring (nats server check's shapes and exit codes): never a bare error, always a status.
    let checks;
    try {
      checks = await doctor(await configFor(opts), opts.platform ? { platform: opts.platform as NodeJS.Platform } : {});
    } catch (err) {
      const u = formatUnknown(format, oneLine(err));
      process.stdout.write(`${u.text}\n`);
      return u.exitCode;
    }
    const out = format === "nagios" ? formatNagios(checks) : format === "json" ? formatCheckJson(checks) : formatPrometheus(checks);
    process.stdout.write(out.text.endsWith("\n") ? out.text : `${out.text}\n`);
    return out.exitCode;
  }
  const r = await configFor(opts);
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
