import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * The layer rule (.dependency-cruiser.cjs): imports point down only, no cycles, nothing shipped
 * imports test code. Checked on the real tree, and shown to fail on a copy with a planted
 * upward import and a planted cycle.
 */
const root = resolve(import.meta.dirname, "../..");
const depcruise = join(root, "node_modules/.bin/depcruise");
const TREES = ["src", "broker", "subjects", "cli"];

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

function cruise(cwd: string): { violations: Violation[] } {
  const r = spawnSync(depcruise, [...TREES, "--config", ".dependency-cruiser.cjs", "--output-type", "json"], { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const out = JSON.parse(r.stdout) as { summary: { violations: Violation[] } };
  return { violations: out.summary.violations };
}

const copies: string[] = [];
function copyOfTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "mesh-layers-"));
  copies.push(dir);
  for (const t of [...TREES, "test/support", ".dependency-cruiser.cjs", "tsconfig.json", "package.json"]) cpSync(join(root, t), join(dir, t), { recursive: true });
  execFileSync("ln", ["-s", join(root, "node_modules"), join(dir, "node_modules")]);
  return dir;
}

afterAll(() => copies.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("layers (dependency-cruiser)", () => {
  it("the tree has no cycle, no upward import and no import of test code", () => {
    const r = cruise(root);
    expect(r.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  });

  it("fails on a planted upward import (bus → sidecar), a planted cycle and a test double imported by src", () => {
    const dir = copyOfTree();
    writeFileSync(join(dir, "src/bus/planted-upward.ts"), 'import type { Sidecar } from "../sidecar/sidecar.js";\nexport type X = Sidecar;\n');
    writeFileSync(join(dir, "src/base/planted-a.ts"), 'import { b } from "./planted-b.js";\nexport const a = (): number => b() + 1;\n');
    writeFileSync(join(dir, "src/base/planted-b.ts"), 'import { a } from "./planted-a.js";\nexport const b = (): number => (a ? 1 : 0);\n');
    writeFileSync(join(dir, "src/features/planted-double.ts"), 'export { startHooksEndpoint } from "../../test/support/hooks-endpoint.js";\n');
    const r = cruise(dir);
    const got = r.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
    expect(got).toContain("no-upward-from-bus: src/bus/planted-upward.ts → src/sidecar/sidecar.ts");
    expect(got.some((g) => g.startsWith("no-circular: src/base/planted-"))).toBe(true);
    expect(got).toContain("no-test-code-in-src: src/features/planted-double.ts → test/support/hooks-endpoint.ts");
  });
});
