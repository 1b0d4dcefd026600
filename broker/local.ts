import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdirSync, openSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { delimiter, join } from "node:path";
import { MeshError } from "../src/base/errors.js";
import { DEFAULT_CLIENT_PORT, DEFAULT_MONITOR_HOST, DEFAULT_MONITOR_PORT, renderServerConfig, type ServerConfigOptions } from "./server-config.js";

/**
 * The embedded broker: nats-server as a child process with its own state directory
 * (config, JetStream store, log and pid file). `mesh broker up` and `mesh up` use it.
 */
export const INSTALL_HINT =
  "nats-server not found: install it (macOS: `brew install nats-server`; Debian/Ubuntu: `apt-get install nats-server`) or set MESH_NATS_SERVER to its path";

export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.MESH_NATS_SERVER,
    ...(env.PATH ?? "").split(delimiter).filter(Boolean).map((d) => join(d, "nats-server")),
    "/usr/sbin/nats-server",
    "/opt/homebrew/bin/nats-server",
    "/usr/local/bin/nats-server",
  ].filter((c): c is string => typeof c === "string" && c.length > 0);
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  throw new MeshError(INSTALL_HINT);
}

export interface LocalBrokerOptions {
  stateDir: string;
  host?: string;
  port?: number;
  /** Where the monitoring port listens: 127.0.0.1 unless asked (it is unauthenticated). */
  monitorHost?: string;
  monitorPort?: number;
  serverName?: string;
  /** Extra nats-server config (auth, TLS). */
  extra?: string;
  /** Leaf mode: the JetStream domain, the hub's leafnode listener or a Mac's link to the hub, the ping settings. */
  leaf?: Pick<ServerConfigOptions, "jetstreamDomain" | "leafListen" | "leafRemote" | "ping">;
  /** Run in the background and survive this process (pid in <stateDir>/nats-server.pid). */
  detach?: boolean;
  binary?: string;
}

export interface LocalBroker {
  url: string;
  monitorUrl: string;
  configPath: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export function waitForPort(host: string, port: number, timeoutMs: number, what = "nats-server"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const sock = createConnection({ host, port });
      sock.once("connect", () => {
        sock.destroy();
        resolve();
      });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new MeshError(`${what} did not open ${host}:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** Is something already listening on host:port? */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const t = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(t);
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export async function startLocalBroker(o: LocalBrokerOptions): Promise<LocalBroker> {
  const binary = o.binary ?? findNatsServer();
  const host = o.host ?? "127.0.0.1";
  const port = o.port ?? DEFAULT_CLIENT_PORT;
  const monitorPort = o.monitorPort ?? DEFAULT_MONITOR_PORT;
  const monitorHost = o.monitorHost ?? DEFAULT_MONITOR_HOST;
  mkdirSync(join(o.stateDir, "jetstream"), { recursive: true, mode: 0o700 });
  const configPath = join(o.stateDir, "nats-server.conf");
  writeFileSync(
    configPath,
    renderServerConfig({
      serverName: o.serverName ?? "mesh-local",
      host,
      port,
      monitorHost,
      monitorPort,
      storeDir: join(o.stateDir, "jetstream"),
      ...(o.extra ? { extra: o.extra } : {}),
      ...(o.leaf ?? {}),
    }),
    { mode: 0o600 },
  );
  if (await isListening(host === "0.0.0.0" ? "127.0.0.1" : host, port)) {
    throw new MeshError(`port ${port} is already in use (another broker running? try \`mesh broker status\`)`);
  }
  const logPath = join(o.stateDir, "nats-server.log");
  const args = ["-c", configPath, "-l", logPath, "-P", join(o.stateDir, "nats-server.pid")];
  const child = o.detach
    ? spawn(binary, args, { detached: true, stdio: ["ignore", openSync(logPath, "a"), openSync(logPath, "a")] })
    : spawn(binary, args, { stdio: ["ignore", "ignore", "pipe"] });
  // Ready when the client port answers; fail at once if the process exits first.
  const exited = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) =>
      reject(new MeshError(`nats-server exited (${signal ?? `code ${code}`}) before it was ready; see ${logPath}`)),
    );
    child.once("error", (err) => reject(new MeshError(`could not start nats-server: ${err.message}`)));
  });
  exited.catch(() => undefined);
  const connectHost = host === "0.0.0.0" ? "127.0.0.1" : host;
  try {
    await Promise.race([waitForPort(connectHost, port, 15_000), exited]);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  if (o.detach) child.unref();
  return {
    url: `nats://${connectHost}:${port}`,
    monitorUrl: `http://${monitorHost === "0.0.0.0" || monitorHost === "::" ? "127.0.0.1" : monitorHost.includes(":") ? `[${monitorHost}]` : monitorHost}:${monitorPort}`,
    configPath,
    pid: child.pid ?? -1,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}
