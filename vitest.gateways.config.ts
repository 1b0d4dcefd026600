import { defineConfig } from "vitest/config";

/**
 * The tests against REAL OpenClaw gateways (two gateways per file, each a Node 24 process tree),
 * one file at a time: run by `npm test` after the rest, so they never share the 2 cores with
 * another gateway pair.
 */
export default defineConfig({
  test: {
    include: ["test/integration/sidecar-gateway.test.ts", "test/integration/a2a-bridge.test.ts", "test/integration/a2a-jobs.test.ts", "test/integration/a2a-sdk-interop.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    maxWorkers: 1,
    minWorkers: 1,
    fileParallelism: false,
    reporters: ["default"],
  },
});
