import type { Check } from "./doctor.js";

/**
 * `mesh doctor --format nagios|json|prometheus`: the shapes and exit codes of natscli's
 * `nats server check`, so monitoring that already watches a NATS server can watch a Mac's mesh.
 * A failed check is CRITICAL; skipped checks (they could not run because an earlier one failed)
 * are reported but do not change the status; a doctor that could not run at all is UNKNOWN.
 */
export const CHECK_STATUS = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type CheckStatus = keyof typeof CHECK_STATUS;

export interface CheckResult {
  status: CheckStatus;
  exitCode: number;
  text: string;
}

function summary(checks: Check[]): { status: CheckStatus; failed: Check[]; ok: Check[]; skipped: Check[] } {
  const failed = checks.filter((c) => c.status === "fail");
  return { status: failed.length ? "CRITICAL" : "OK", failed, ok: checks.filter((c) => c.status === "ok"), skipped: checks.filter((c) => c.status === "skip") };
}

const clean = (s: string): string => s.replace(/[|\n]/g, " ");

export function formatNagios(checks: Check[]): CheckResult {
  const s = summary(checks);
  const what = s.failed.length ? s.failed.map((c) => `${c.name}: ${clean(c.detail)}`).join("; ") : `${s.ok.length} checks ok`;
  const perf = `ok=${s.ok.length} critical=${s.failed.length} skipped=${s.skipped.length}`;
  return { status: s.status, exitCode: CHECK_STATUS[s.status], text: `${s.status} mesh doctor: ${what} | ${perf}` };
}

export function formatCheckJson(checks: Check[]): CheckResult {
  const s = summary(checks);
  const line = (c: Check): string => `${c.name}: ${c.detail}${c.fix ? ` (fix: ${c.fix})` : ""}`;
  const body = {
    name: "mesh doctor",
    status: s.status,
    check_suite: "mesh",
    oks: s.ok.map(line),
    warnings: [] as string[],
    criticals: s.failed.map(line),
    unknowns: s.skipped.map(line),
    perf_data: [
      { name: "ok", value: s.ok.length },
      { name: "critical", value: s.failed.length },
      { name: "skipped", value: s.skipped.length },
    ],
  };
  return { status: s.status, exitCode: CHECK_STATUS[s.status], text: JSON.stringify(body, null, 2) };
}

export function formatPrometheus(checks: Check[]): CheckResult {
  const s = summary(checks);
  const label = (v: string): string => v.replace(/["\\\n]/g, "_");
  const value = (c: Check): number => (c.status === "ok" ? CHECK_STATUS.OK : c.status === "fail" ? CHECK_STATUS.CRITICAL : CHECK_STATUS.UNKNOWN);
  const lines = [
    "# HELP mesh_doctor_check_status One check of mesh doctor: 0 OK, 2 CRITICAL, 3 UNKNOWN (skipped), as nats server check numbers them.",
    "# TYPE mesh_doctor_check_status gauge",
    ...checks.map((c) => `mesh_doctor_check_status{check="${label(c.name)}"} ${value(c)}`),
    "# HELP mesh_doctor_status The worst status of all checks (0 OK, 2 CRITICAL).",
    "# TYPE mesh_doctor_status gauge",
    `mesh_doctor_status ${CHECK_STATUS[s.status]}`,
  ];
  return { status: s.status, exitCode: CHECK_STATUS[s.status], text: `${lines.join("\n")}\n` };
}

/** The doctor could not run (e.g. an unreadable config): UNKNOWN, exit 3, in the format asked for. */
export function formatUnknown(format: "nagios" | "json" | "prometheus", reason: string): CheckResult {
  const text =
    format === "nagios"
      ? `UNKNOWN mesh doctor: ${clean(reason)}`
      : format === "json"
        ? JSON.stringify({ name: "mesh doctor", status: "UNKNOWN", check_suite: "mesh", oks: [], warnings: [], criticals: [], unknowns: [reason], perf_data: [] }, null, 2)
        : "# HELP mesh_doctor_status The worst status of all checks (3 UNKNOWN: doctor could not run).\n# TYPE mesh_doctor_status gauge\nmesh_doctor_status 3\n";
  return { status: "UNKNOWN", exitCode: CHECK_STATUS.UNKNOWN, text };
}
