import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The fault-injection suite runs on its own: npm run test:faults (vitest.faults.config.ts).
    // Real-gateway tests run on their own afterwards, one file at a time (vitest.gateways.config.ts).
    exclude: ["test/faults/**", "node_modules/**", "test/integration/sidecar-gateway.test.ts", "test/integration/a2a-bridge.test.ts", "test/integration/a2a-jobs.test.ts", "test/integration/a2a-sdk-interop.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Integration tests start real servers; keep parallelism modest on 2-core machines.
    maxWorkers: 2,
    minWorkers: 1,
    reporters: ["default"],
  },
});
