/**
 * Separate processes (the bench's scale scenario, presence tests): real `mesh sidecar` processes (dist/bin/mesh.js, the
 * command users run, configured by a 0600 config file) and, as the baseline, a bare nats.js process
 * that only connects. Memory is each process's resident set size, read from /proc/<pid>/status
 * (VmRSS) on Linux, `ps -o rss=` elsewhere.
 */
import { SIDECAR_NODE_FLAGS } from "../../src/ops/service.js";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { HooksEndpoint } from "./hooks-endpoint.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const main = join(root, "dist", "bin", "mesh.js");

export interface Proc {
  pid: number;
  /** What the process wrote to stderr (its log lines: warnings and errors). */
  stderr(): string;
  /** SIGTERM (or the given signal), then wait for the exit (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Resident set size of a process in MiB. */
export function rssMb(pid: number): number {
  const status = `/proc/${pid}/status`;
  if (existsSync(status)) {
    const line = readFileSync(status, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
    const kb = Number(line?.split(/\s+/)[1]);
    if (!Number.isFinite(kb) || kb <= 0) throw new Error(`no VmRSS for pid ${pid}: ${line ?? "missing"}`);
    return kb / 1024;
  }
  const kb = Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)], { encoding: "utf8" }).trim());
  if (!Number.isFinite(kb) || kb <= 0) throw new Error(`no rss for pid ${pid}`);
  return kb / 1024;
}

function wrap(child: ChildProcess, cleanup: () => void): Proc {
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (err.length < 20_000) err += d.toString("utf8");
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  if (child.pid === undefined) throw new Error("process did not start");
  return {
    pid: child.pid,
    stderr: () => err,
    stop: async (signal: NodeJS.Signals = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
      }
      cleanup();
    },
  };
}

/** One `mesh sidecar` process for `identity`, delivering to the hooks stand-in. */
export function spawnSidecarProcess(o: { identity: string; server: string; creds?: string; hooks: HooksEndpoint; capabilities?: string[]; jobs?: false; httpPort?: number }): Proc & { kill(): Promise<void>; exitCode(): Promise<number | null> } {
  const dir = mkdtempSync(join(tmpdir(), `mesh-bench-proc-${o.identity}-`));
  const config = {
    identity: o.identity,
    ...(o.capabilities ? { capabilities: o.capabilities } : {}),
    gateway: { url: o.hooks.url, hooksToken: o.hooks.token, bridge: "hooks" },
    sidecar: { stateDir: join(dir, "state"), httpPort: o.httpPort ?? 0, ...(o.jobs === false ? { jobs: false } : {}) },
  };
  const configPath = join(dir, "config.json");
  writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
  chmodSync(configPath, 0o600);
  // The command line the launchd/systemd unit runs (the same Node flags).
  const child = spawn(process.execPath, [...SIDECAR_NODE_FLAGS, main, "sidecar"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      MESH_HOME: dir,
      MESH_CONFIG: configPath,
      MESH_SERVER: o.server,
      ...(o.creds ? { MESH_CREDS: o.creds } : {}),
      MESH_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const proc = wrap(child, () => rmSync(dir, { recursive: true, force: true }));
  const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", () => r())));
  return {
    ...proc,
    /** Resolves with the exit code when the process ends by itself. */
    exitCode: async () => {
      await exited;
      return child.exitCode;
    },
    /** SIGKILL: no graceful stop (no presence delete, no sidecar.stopped event). */
    kill: async () => {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * The baseline: a node process with one nats.js connection and nothing else, alive until SIGTERM.
 * With `creds` (an identity's credential file) it authenticates with that nkey, as a sidecar does.
 */
export async function spawnBareConnection(server: string, creds?: string): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), "mesh-bench-bare-"));
  // Resolved by node itself (the bench may run under vite-node, which has no import.meta.resolve).
  const transport = execFileSync(process.execPath, ["--input-type=module", "-e", `console.log(import.meta.resolve("@nats-io/transport-node"))`], {
    cwd: root,
    encoding: "utf8",
  }).trim();
  const script = join(dir, "bare-connection.mjs");
  writeFileSync(
    script,
    `import { connect, nkeyAuthenticator } from ${JSON.stringify(transport)};\nimport { readFileSync } from "node:fs";\n` +
      `const seed = process.env.CREDS ? readFileSync(process.env.CREDS, "utf8").split("\\n").find((l) => l.startsWith("S")) : undefined;\n` +
      `const nc = await connect({ servers: process.env.S.split(","), ...(seed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)) } : {}) });\n` +
      `process.stdout.write("connected\\n");\n` +
      `process.once("SIGTERM", () => void nc.close().then(() => process.exit(0)));\n`,
  );
  const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? "", S: server, ...(creds ? { CREDS: creds } : {}) }, stdio: ["ignore", "pipe", "pipe"] });
  const proc = wrap(child, () => rmSync(dir, { recursive: true, force: true }));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`bare nats.js process did not connect in 15 s: ${proc.stderr()}`)), 15_000);
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString("utf8").includes("connected")) {
        clearTimeout(t);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`bare nats.js process exited ${code}: ${proc.stderr()}`));
    });
  });
  return proc;
}
