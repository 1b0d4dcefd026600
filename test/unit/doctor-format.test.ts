import { describe, expect, it } from "vitest";
import { formatCheckJson, formatNagios, formatPrometheus, formatUnknown } from "../../src/ops/doctor-format.js";
import type { Check } from "../../src/ops/doctor.js";

const healthy: Check[] = [
  { name: "broker reachable", status: "ok", detail: "nats://127.0.0.1:4222 (nats-server 2.9.10)" },
  { name: "jetstream", status: "ok", detail: "on" },
];
const broken: Check[] = [
  { name: "broker reachable", status: "fail", detail: "cannot reach nats://127.0.0.1:1 | refused", fix: "mesh up" },
  { name: "jetstream", status: "skip", detail: "broker unreachable" },
  { name: "hooks token", status: "ok", detail: "accepted" },
];

describe("mesh doctor --format (nats server check's shapes and exit codes)", () => {
  it("nagios: one line, status first, perfdata after '|'; OK → 0, a failed check → CRITICAL 2", () => {
    expect(formatNagios(healthy)).toEqual({ status: "OK", exitCode: 0, text: "OK mesh doctor: 2 checks ok | ok=2 critical=0 skipped=0" });
    expect(formatNagios(broken)).toEqual({ status: "CRITICAL", exitCode: 2, text: "CRITICAL mesh doctor: broker reachable: cannot reach nats://127.0.0.1:1   refused | ok=1 critical=1 skipped=1" });
  });

  it("json: name, status, oks/warnings/criticals/unknowns and perf_data", () => {
    const j = formatCheckJson(broken);
    expect(j.exitCode).toBe(2);
    expect(JSON.parse(j.text)).toEqual({
      name: "mesh doctor",
      status: "CRITICAL",
      check_suite: "mesh",
      oks: ["hooks token: accepted"],
      warnings: [],
      criticals: ["broker reachable: cannot reach nats://127.0.0.1:1 | refused (fix: mesh up)"],
      unknowns: ["jetstream: broker unreachable"],
      perf_data: [
        { name: "ok", value: 1 },
        { name: "critical", value: 1 },
        { name: "skipped", value: 1 },
      ],
    });
  });

  it("prometheus: a gauge per check and the overall status", () => {
    const p = formatPrometheus(broken);
    expect(p.exitCode).toBe(2);
    expect(p.text.split("\n")).toEqual([
      "# HELP mesh_doctor_check_status One check of mesh doctor: 0 OK, 2 CRITICAL, 3 UNKNOWN (skipped), as nats server check numbers them.",
      "# TYPE mesh_doctor_check_status gauge",
      'mesh_doctor_check_status{check="broker reachable"} 2',
      'mesh_doctor_check_status{check="jetstream"} 3',
      'mesh_doctor_check_status{check="hooks token"} 0',
      "# HELP mesh_doctor_status The worst status of all checks (0 OK, 2 CRITICAL).",
      "# TYPE mesh_doctor_status gauge",
      "mesh_doctor_status 2",
      "",
    ]);
    expect(formatPrometheus(healthy).text).toContain("mesh_doctor_status 0\n");
  });

  it("a doctor that could not run is UNKNOWN, exit 3, in every format", () => {
    expect(formatUnknown("nagios", "config x.json: cannot read it")).toEqual({ status: "UNKNOWN", exitCode: 3, text: "UNKNOWN mesh doctor: config x.json: cannot read it" });
    expect(JSON.parse(formatUnknown("json", "r").text)).toMatchObject({ status: "UNKNOWN", unknowns: ["r"] });
    expect(formatUnknown("prometheus", "r").text).toContain("mesh_doctor_status 3\n");
  });
});
