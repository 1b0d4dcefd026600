import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // One scenario at a time: they stop and restart brokers and gateways.
    fileParallelism: false,
    maxWorkers: 1,
    minWorkers: 1,
  },
});
