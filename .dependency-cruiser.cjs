/**
 * The layers of openclaw-mesh, lowest first. A module may import from its own layer or a lower
 * one, never a higher one, and nothing may form a cycle. `npm test` runs this check
 * (test/unit/layers.test.ts), which also proves it fails on a planted upward import.
 */
const LAYERS = [
  ["base", "^src/base/"], // errors, logging, backoff, durations, files, one HTTP client
  ["subjects", "^subjects/"], // the protocol: every name, envelope, signing, event/job shapes
  ["broker", "^broker/"], // topology (streams, consumers, buckets), server config, auth
  ["bus", "^src/bus/"], // connection, publish, subscribe, the durable pull loop, acks, DLQ
  ["agent", "^src/agent/"], // AgentPort and its adapters (OpenClaw hooks, …)
  ["features", "^src/features/"], // inbox, asks, jobs, hooks, alerts, presence
  ["config", "^src/config/"], // the config file and its resolution
  ["sidecar", "^src/sidecar/"], // wiring only, metrics, health
  ["ops", "^src/ops/"], // init, doctor, top, skill
  ["api", "^src/mod\\.ts$"], // the library's public face
  ["cli", "^cli/"], // parse, call, print
];

const forbidden = [
  {
    name: "no-circular",
    severity: "error",
    comment: "Import cycles make layers meaningless.",
    from: {},
    to: { circular: true },
  },
  {
    name: "no-test-code-in-src",
    severity: "error",
    comment: "Test doubles and the bench live in test/ only; nothing shipped may import them.",
    from: { path: "^(src|broker|subjects|cli)/" },
    to: { path: "^test/" },
  },
];
LAYERS.forEach(([name, path], i) => {
  const higher = LAYERS.slice(i + 1).map(([, p]) => p);
  if (higher.length === 0) return;
  forbidden.push({
    name: `no-upward-from-${name}`,
    severity: "error",
    comment: `${name} may import only from its own layer or lower ones`,
    from: { path },
    to: { path: higher.join("|") },
  });
});

module.exports = {
  forbidden,

  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|dist)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
