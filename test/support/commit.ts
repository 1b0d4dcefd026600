import { execFileSync } from "node:child_process";

/**
 * The commit whose code a results file measured (BENCHMARKS.md, RELIABILITY.md): HEAD, and whether
 * the shipped code (src, subjects, broker, cli, web) had uncommitted changes when it ran.
 */
export function measuredCommit(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "subjects", "broker", "cli", "web"], { encoding: "utf8" }).trim();
    return dirty ? `${sha} with uncommitted changes to the shipped code (not a measurement of any commit)` : sha;
  } catch {
    return "unknown (not run from a git checkout)";
  }
}
