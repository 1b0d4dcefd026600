import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const NAME = "openclaw-mesh";
let root: string | undefined;

/**
 * The installed package's folder (where openclaw-mesh's package.json is), found from wherever this
 * code runs: src/ (tests), dist/src/ (tsc's output) or dist/bin/ (the bundled `mesh`). Its files
 * (web/, skill/, the `mesh` program) are located from here, never by a path relative to one module.
 */
export function packageRoot(): string {
  if (root) return root;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: unknown }).name === NAME) return (root = dir);
    if (dirname(dir) === dir) throw new Error(`${NAME}'s package.json is not in any folder above ${start}`);
  }
}

/** The `mesh` program as installed (package.json `bin.mesh`): what a service runs. */
export function meshProgram(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { bin?: { mesh?: string } };
  if (!pkg.bin?.mesh) throw new Error(`${NAME}'s package.json names no mesh program (bin.mesh)`);
  return join(packageRoot(), pkg.bin.mesh);
}
