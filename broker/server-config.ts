/**
 * The nats-server configuration for a mesh broker, rendered from one function so the embedded
 * broker (`mesh broker up`) and the container (`docker-compose.yml`, broker/nats-server.conf) run
 * the same settings.
 */
export interface ServerConfigOptions {
  serverName: string;
  host: string;
  port: number;
  /**
   * Where the monitoring port listens (default 127.0.0.1, whatever `host` is): it has no
   * authentication and lists every client, nkey and subscription (`/connz?subs=1&auth=1`).
   */
  monitorHost?: string;
  monitorPort: number;
  storeDir: string;
  /** Largest message the broker accepts. 1 MiB is the NATS default and plenty for text turns. */
  maxPayload?: string;
  maxFileStore?: string;
  maxMemoryStore?: string;
  cluster?: { name: string; host: string; port: number; routes: string[] };
  /** Leaf mode: this server's JetStream domain (`hub`, or `mac-<name>` on a Mac's leaf server). */
  jetstreamDomain?: string;
  /** Leaf mode, on the hub: where Macs' leaf servers connect, and the address the hub tells them (gotcha 1). */
  leafListen?: { host: string; port: number; advertise?: string };
  /** Leaf mode, on a Mac: the link to the hub, and the subjects it never carries either way. */
  leafRemote?: { url: string; deny: readonly string[] };
  /**
   * Leaf mode: how often the server pings its peers, and after how many unanswered pings a link is
   * dead. 2 s / 2 finds a silently dropped link in about 6 s; the defaults (2 min / 2) take minutes.
   */
  ping?: { intervalSec: number; max: number };
  /** Extra config text appended verbatim (authorization blocks, TLS; see broker auth). */
  extra?: string;
}

export const DEFAULT_CLIENT_PORT = 4222;
export const DEFAULT_MONITOR_PORT = 8222;
export const DEFAULT_MAX_PAYLOAD = "1MB";
export const DEFAULT_MONITOR_HOST = "127.0.0.1";

import { isLoopback } from "../src/base/loopback-host.js";

/** The warning printed (stderr) when the monitoring port listens beyond loopback. */
export function monitorExposedWarning(host: string, port: number): string {
  return `warning: the monitoring port ${host}:${port} is reachable beyond this machine; it is unauthenticated and lists every client, nkey and subscription (use --monitor-host 127.0.0.1 unless you need it)`;
}

export function renderServerConfig(o: ServerConfigOptions): string {
  const lines = [
    "# openclaw-mesh broker configuration (rendered by broker/server-config.ts; keep in sync)",
    `server_name: ${JSON.stringify(o.serverName)}`,
    `listen: ${JSON.stringify(`${o.host}:${o.port}`)}`,
    ...(isLoopback(o.monitorHost ?? DEFAULT_MONITOR_HOST)
      ? []
      : ["# monitoring beyond loopback: unauthenticated, lists every client, nkey and subscription; publish it on 127.0.0.1 only"]),
    `http: ${JSON.stringify(`${o.monitorHost ?? DEFAULT_MONITOR_HOST}:${o.monitorPort}`)}`,
    `max_payload: ${o.maxPayload ?? DEFAULT_MAX_PAYLOAD}`,
    ...(o.ping ? [`ping_interval: "${o.ping.intervalSec}s"`, `ping_max: ${o.ping.max}`] : []),
    "",
    "jetstream {",
    `  store_dir: ${JSON.stringify(o.storeDir)}`,
    ...(o.jetstreamDomain ? [`  domain: ${JSON.stringify(o.jetstreamDomain)}`] : []),
    `  max_memory_store: ${o.maxMemoryStore ?? "256MB"}`,
    `  max_file_store: ${o.maxFileStore ?? "10GB"}`,
    "}",
  ];
  if (o.cluster) {
    lines.push(
      "",
      "cluster {",
      `  name: ${JSON.stringify(o.cluster.name)}`,
      `  listen: ${JSON.stringify(`${o.cluster.host}:${o.cluster.port}`)}`,
      "  routes: [",
      ...o.cluster.routes.map((r) => `    ${JSON.stringify(r)}`),
      "  ]",
      "}",
    );
  }
  if (o.leafListen) {
    lines.push(
      "",
      "leafnodes {",
      `  listen: ${JSON.stringify(`${o.leafListen.host}:${o.leafListen.port}`)}`,
      ...(o.leafListen.advertise ? [`  advertise: ${JSON.stringify(o.leafListen.advertise)}`] : []),
      "}",
    );
  }
  if (o.leafRemote) {
    const deny = `[${o.leafRemote.deny.map((d) => JSON.stringify(d)).join(", ")}]`;
    lines.push(
      "",
      "leafnodes {",
      "  reconnect: 1",
      "  remotes: [",
      `    { url: ${JSON.stringify(o.leafRemote.url)}, deny_imports: ${deny}, deny_exports: ${deny} }`,
      "  ]",
      "}",
    );
  }
  if (o.extra) lines.push("", o.extra.trimEnd());
  return lines.join("\n") + "\n";
}

/**
 * The settings of broker/nats-server.conf, the file docker-compose.yml mounts. Inside a container
 * the monitoring port has to listen on 0.0.0.0 for Docker to publish it at all; docker-compose.yml
 * publishes it on the host's 127.0.0.1 only.
 */
export const CONTAINER_CONFIG: ServerConfigOptions = {
  serverName: "mesh",
  host: "0.0.0.0",
  port: DEFAULT_CLIENT_PORT,
  monitorHost: "0.0.0.0",
  monitorPort: DEFAULT_MONITOR_PORT,
  storeDir: "/data/jetstream",
};

export const CLUSTER_NODES = ["n1", "n2", "n3"] as const;

/** The settings of broker/cluster-<node>.conf, the 3-node profile of docker-compose.yml. */
export function containerClusterConfig(node: (typeof CLUSTER_NODES)[number]): ServerConfigOptions {
  return {
    ...CONTAINER_CONFIG,
    // No node's monitoring port is published: it stays on the container's own loopback.
    monitorHost: "127.0.0.1",
    serverName: node,
    cluster: { name: "mesh", host: "0.0.0.0", port: 6222, routes: CLUSTER_NODES.map((n) => `nats://${n}:6222`) },
  };
}
