// Bundles the CLI (tsc's dist/cli/main.js and everything it imports, the dependencies too) into
// dist/bin/: the `mesh` program users run. One file to load instead of hundreds of ES modules cuts
// the CLI's cold start (BENCHMARKS.md, "CLI cold start"). Commands stay lazy: each dynamic import
// is a chunk of its own, loaded only by the command that needs it.
import { chmodSync, rmSync } from "node:fs";
import { build } from "esbuild";

/**
 * A dynamic import() of a package is refused: for a CommonJS package (nats.js v3, pino) a bundle
 * gives only its default export, so `const { x } = await import("pkg")` would be undefined at run
 * time. Import the package statically in a module of ours, and import that module dynamically.
 */
const noDynamicPackageImports = {
  name: "no-dynamic-package-imports",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind !== "dynamic-import" || args.path.startsWith("node:")) return undefined;
      return { errors: [{ text: `dynamic import of the package "${args.path}" in ${args.importer}: import it statically in a module of ours and import that module dynamically` }] };
    });
  },
};

rmSync("dist/bin", { recursive: true, force: true });
await build({
  entryPoints: { mesh: "dist/cli/main.js" },
  outdir: "dist/bin",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  chunkNames: "chunks/[name]-[hash]",
  // CommonJS dependencies call require(); an ES module has none, so each file makes its own.
  banner: { js: 'import { createRequire as __meshRequire } from "node:module"; const require = __meshRequire(import.meta.url);' },
  plugins: [noDynamicPackageImports],
  logLevel: "warning",
});
chmodSync("dist/bin/mesh.js", 0o755);
