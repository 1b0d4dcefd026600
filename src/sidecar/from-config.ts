import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { identity as checkIdentity, identityFromHostname, MAX_CAPABILITIES } from "../../subjects/mod.js";
import { assertPrivateFile, expandHome } from "../base/files.js";
import { ConfigError } from "../base/errors.js";
import type { Logger } from "../base/log.js";
import type { AgentPort } from "../agent/port.js";
import { openclawHooksAgent } from "../agent/openclaw-hooks/adapter.js";
import type { GatewayEndpoint } from "../agent/openclaw-hooks/hooks-client.js";
import { openclawConfigPath, readGatewayConfig, type GatewayFacts } from "../agent/openclaw-config.js";
import { openclawA2AAgent } from "../agent/openclaw-a2a/adapter.js";
import { A2APeerTable } from "../agent/openclaw-a2a/peers.js";
import { PeerSync } from "../features/conversations/peer-sync.js";
import { sidecarStateDir, type Resolved } from "../config/config.js";
import { Sidecar, type SidecarOptions } from "./sidecar.js";
import { HUB_DOMAIN } from "../../subjects/names.js";
import { DEFAULT_HTTP_PORT } from "./http.js";
import { DEFAULT_A2A_PORT } from "../config/ports.js";

/**
 * From configuration to a running sidecar: the one function `mesh sidecar`, `mesh up` and the
 * tests use. Config file + MESH_* environment + flags → which agent adapter, which features.
 */
export interface SidecarFlags {
  gateway?: string;
  stateDir?: string;
  capabilities?: string;
}

function secret(inline: string | undefined, file: string | undefined, env: string | undefined, what: string): string | undefined {
  if (env) return env;
  if (inline) return inline;
  if (!file) return undefined;
  file = expandHome(file);
  assertPrivateFile(file);
  try {
    const v = readFileSync(file, "utf8").trim();
    if (!v) throw new ConfigError(`${what} file ${file} is empty`);
    return v;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read the ${what} file ${file}`);
  }
}

/**
 * The local gateway's own config (openclaw.json, `gateway.configFile` or ~/.openclaw/openclaw.json),
 * read once per resolved configuration: the hooks token, port and A2A switch all come from one read.
 */
const gatewayConfigs = new WeakMap<Resolved, GatewayFacts>();
function localGateway(r: Resolved): GatewayFacts {
  let f = gatewayConfigs.get(r);
  if (!f) {
    f = readGatewayConfig(expandHome(r.config.gateway?.configFile ?? openclawConfigPath()));
    gatewayConfigs.set(r, f);
  }
  return f;
}

/** The local gateway's hooks endpoint from the configuration (the hooks token is required). */
export function gatewayEndpoint(r: Resolved, urlOverride?: string): GatewayEndpoint {
  const gw = r.config.gateway;
  if (gw?.hooksToken || gw?.token) assertPrivateFile(r.configPath);
  // Last resort on this machine: the local gateway's own config (~/.openclaw/openclaw.json).
  const local = gw?.hooksToken || gw?.hooksTokenFile || process.env.MESH_HOOKS_TOKEN ? undefined : localGateway(r);
  const hooksToken = secret(gw?.hooksToken, gw?.hooksTokenFile, process.env.MESH_HOOKS_TOKEN, "hooks token") ?? local?.hooksToken;
  if (!hooksToken) {
    throw new ConfigError(
      "no hooks token for the local gateway: set gateway.hooksTokenFile in the config (or MESH_HOOKS_TOKEN); it is the gateway's hooks.token",
    );
  }
  return {
    url: urlOverride ?? gw?.url ?? `http://127.0.0.1:${local?.port ?? 18789}`,
    hooksPath: gw?.hooksPath ?? local?.hooksPath ?? "/hooks",
    hooksToken,
  };
}

/** The gateway's auth token (WebSocket), from the config, MESH_GATEWAY_TOKEN or the local gateway's own config. */
function gatewayTokenOf(r: Resolved): string | undefined {
  const gw = r.config.gateway;
  return (
    secret(gw?.token, gw?.tokenFile, process.env.MESH_GATEWAY_TOKEN, "gateway token") ??
    (gw?.hooksToken || gw?.hooksTokenFile ? undefined : localGateway(r).gatewayToken)
  );
}

/**
 * The local agent's adapter. With the gateway token it also watches the gateway's WebSocket
 * (replies to asks and jobs, lifecycle events); without it, hooks only (enough for `mesh hooks
 * test` and `mesh doctor`).
 */
export async function agentFromConfig(r: Resolved, o: { gatewayUrl?: string; log?: Logger; watch?: boolean } = {}): Promise<AgentPort> {
  const endpoint = gatewayEndpoint(r, o.gatewayUrl);
  const gw = r.config.gateway;
  const agentId = gw?.agentId;
  if (o.watch === false || !o.log) return openclawHooksAgent({ endpoint, ...(agentId ? { agentId } : {}) });
  const gatewayToken = gatewayTokenOf(r);
  if (!gatewayToken) {
    o.log.warn("no gateway token: gateway events are not mirrored and `mesh ask` replies cannot be read");
    return openclawHooksAgent({ endpoint, ...(agentId ? { agentId } : {}) });
  }
  const { gatewayWatch } = await import("../agent/openclaw-hooks/watch.js");
  const watch = gatewayWatch({ url: endpoint.url, token: gatewayToken, log: o.log });
  const abortSession = async (key: string) => (await rpc()).gatewayCall({ url: endpoint.url, token: gatewayToken, scopes: ["operator.write"], method: "sessions.abort", params: { key } });
  return openclawHooksAgent({ endpoint, replies: watch.replies, events: watch.events, onTurnEnd: watch.onTurnEnd, onTurnStart: watch.onTurnStart, abortSession, ...(agentId ? { agentId } : {}) });
}

export interface BridgeChoice {
  bridge: "a2a" | "hooks";
  why: string;
  /** The gateway's openclaw.json (the A2A bridge keeps its channels.a2a.peers). */
  configFile: string;
}

/** Which bridge carries peers' messages into the gateway, and why (for `mesh doctor`). */
export function chooseBridge(r: Resolved): BridgeChoice {
  const gw = r.config.gateway;
  const configFile = expandHome(gw?.configFile ?? openclawConfigPath());
  const want = gw?.bridge ?? "auto";
  if (want === "a2a") return { bridge: "a2a", why: "gateway.bridge is \"a2a\" in the config", configFile };
  if (want === "hooks") return { bridge: "hooks", why: "gateway.bridge is \"hooks\" in the config", configFile };
  const facts = localGateway(r);
  if (facts.a2aEnabled) return { bridge: "a2a", why: `channels.a2a.enabled is true in ${configFile}`, configFile };
  return {
    bridge: "hooks",
    why: facts.exists
      ? `channels.a2a is not enabled in ${configFile} (mesh init --configure-gateway enables it)`
      : `no gateway config at ${configFile}`,
    configFile,
  };
}

/** This machine's capabilities: the flag (comma-separated) or the config; never more than the cap. */
function capabilitiesOf(r: Resolved, flag?: string): string[] {
  const caps = flag ? flag.split(",").map((c) => checkIdentity(c.trim(), "capability")) : r.config.capabilities;
  if (caps.length > MAX_CAPABILITIES) {
    throw new ConfigError(`at most ${MAX_CAPABILITIES} capabilities (got ${caps.length}: ${caps.join(", ")})`);
  }
  return caps;
}

/** The gateway's WebSocket RPC (and `ws`), loaded on the first call: most sidecars never make one. */
const rpc = () => import("../agent/openclaw-rpc.js");

/** Builds a Sidecar from the resolved configuration, as `mesh sidecar` does. */
export function sidecarFromConfig(r: Resolved, flags: SidecarFlags, log: Logger): Promise<Sidecar> {
  return sidecarFromConfigTuned(r, flags, log, {});
}

/**
 * sidecarFromConfig with `tuning`: options the config file does not carry (timers in tests, a
 * stand-in agent in load tests). Not part of the library's surface (src/mod.ts); a given agent
 * skips the bridge choice, and the log says so ("given").
 */
export async function sidecarFromConfigTuned(r: Resolved, flags: SidecarFlags, log: Logger, tuning: Partial<SidecarOptions>): Promise<Sidecar> {
  const id = checkIdentity(r.identity ?? identityFromHostname(hostname()));
  const sc = r.config.sidecar;
  const stateDir = sidecarStateDir(r, id, flags.stateDir);
  let agent = tuning.agent ?? (await agentFromConfig(r, { ...(flags.gateway ? { gatewayUrl: flags.gateway } : {}), log }));
  let a2a: SidecarOptions["a2a"];
  const choice = chooseBridge(r);
  if (!tuning.agent && choice.bridge === "a2a") {
    const table = new A2APeerTable(stateDir, choice.configFile);
    table.clients = (sc?.a2aClients ?? []).map((c) => {
      const token = secret(undefined, c.tokenFile, undefined, `A2A client ${c.name} token`);
      if (!token || token.length < 16) throw new ConfigError(`A2A client ${c.name}: its token file needs a token of at least 16 characters`);
      // "gateway" names the local gateway's own sends (conversation messages, not asks).
      if (c.name === "gateway") throw new ConfigError(`A2A client name "gateway" is reserved for the local gateway: pick another name in sidecar.a2aClients`);
      return { name: c.name, token };
    });
    const sync = new PeerSync({ self: id, table, log });
    a2a = { table, sync, ...(sc?.a2aHost ? { listen: { host: sc.a2aHost, port: sc.a2aPort ?? DEFAULT_A2A_PORT } } : {}) };
    const gatewayToken = gatewayTokenOf(r);
    const url = agent.url;
    const agentId = r.config.gateway?.agentId;
    agent = openclawA2AAgent({
      url,
      peers: table,
      hooks: agent,
      addPeer: (peer) => sync.add(peer),
      ...(agentId ? { agentId } : {}),
      ...(localGateway(r).a2aReplyTimeoutMs ? { gatewayReplyTimeoutMs: localGateway(r).a2aReplyTimeoutMs } : {}),
      // A job's turn is stopped with the gateway's sessions.abort: operator.write, on a connection
      // opened for that one call (the long-lived watch stays read-only).
      ...(gatewayToken
        ? {
            abortSession: async (key: string) => (await rpc()).gatewayCall({ url, token: gatewayToken, scopes: ["operator.write"], method: "sessions.abort", params: { key } }),
            readSession: async (sessionKey: string) => (await rpc()).gatewayCall({ url, token: gatewayToken, scopes: ["operator.read"], method: "chat.history", params: { sessionKey, limit: 50 } }),
          }
        : {}),
    });
  }
  log.info({ bridge: agent.bridge, why: tuning.agent ? "given" : choice.why }, "bridge to the gateway");
  return new Sidecar({
    identity: id,
    server: r.server,
    ...(r.creds ? { creds: r.creds } : {}),
    agent,
    stateDir,
    capabilities: capabilitiesOf(r, flags.capabilities),
    hooks: r.config.hooks,
    ...(sc?.inboxAckWaitMs ? { inboxAckWaitMs: sc.inboxAckWaitMs } : {}),
    // 0 in the config turns the port off, unless the A2A bridge needs it (then any free port).
    ...(sc?.httpPort !== 0 ? { httpPort: sc?.httpPort ?? DEFAULT_HTTP_PORT } : a2a ? { httpPort: 0 } : {}),
    ...(a2a ? { a2a } : {}),
    ...(sc?.maxHops !== undefined ? { maxHops: sc.maxHops } : {}),
    ...(r.config.alerts ? { alerts: r.config.alerts } : {}),
    ...(r.config.repos?.length ? { repos: r.config.repos } : {}),
    ...(r.config.leaf ? { leaf: { mac: r.config.leaf.mac, hubDomain: HUB_DOMAIN } } : {}),
    jobs:
      sc?.jobs === false
        ? false
        : {
            ...(sc?.jobConcurrency ? { concurrency: sc.jobConcurrency } : {}),
            ...(sc?.jobQueues ? { queues: sc.jobQueues } : {}),
          },
    log,
    ...tuning,
  });
}
