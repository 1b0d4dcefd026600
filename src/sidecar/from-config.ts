import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { identity as checkIdentity, identityFromHostname, MAX_CAPABILITIES } from "../../subjects/mod.js";
import { assertPrivateFile, expandHome, meshHome } from "../base/files.js";
import { ConfigError } from "../base/errors.js";
import type { Logger } from "../base/log.js";
import type { AgentPort } from "../agent/port.js";
import { openclawHooksAgent } from "../agent/openclaw-hooks/adapter.js";
import type { GatewayEndpoint } from "../agent/openclaw-hooks/hooks-client.js";
import { readGatewayConfig } from "../agent/openclaw-config.js";
import type { Resolved } from "../config/config.js";
import { Sidecar, type SidecarOptions } from "./sidecar.js";
import { DEFAULT_HTTP_PORT } from "./http.js";

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

/** The local gateway's hooks endpoint from the configuration (the hooks token is required). */
export function gatewayEndpoint(r: Resolved, urlOverride?: string): GatewayEndpoint {
  const gw = r.config.gateway;
  if (gw?.hooksToken || gw?.token) assertPrivateFile(r.configPath);
  // Last resort on this machine: the local gateway's own config (~/.openclaw/openclaw.json).
  const local = gw?.hooksToken || gw?.hooksTokenFile || process.env.MESH_HOOKS_TOKEN ? undefined : readGatewayConfig();
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
  const gatewayToken =
    secret(gw?.token, gw?.tokenFile, process.env.MESH_GATEWAY_TOKEN, "gateway token") ??
    (gw?.hooksToken || gw?.hooksTokenFile ? undefined : readGatewayConfig().gatewayToken);
  if (!gatewayToken) {
    o.log.warn("no gateway token: gateway events are not mirrored and `mesh ask` replies cannot be read");
    return openclawHooksAgent({ endpoint, ...(agentId ? { agentId } : {}) });
  }
  const { gatewayWatch } = await import("../agent/openclaw-hooks/watch.js");
  const watch = gatewayWatch({ url: endpoint.url, token: gatewayToken, log: o.log });
  return openclawHooksAgent({ endpoint, replies: watch.replies, events: watch.events, ...(agentId ? { agentId } : {}) });
}

/** This machine's capabilities: the flag (comma-separated) or the config; never more than the cap. */
function capabilitiesOf(r: Resolved, flag?: string): string[] {
  const caps = flag ? flag.split(",").map((c) => checkIdentity(c.trim(), "capability")) : r.config.capabilities;
  if (caps.length > MAX_CAPABILITIES) {
    throw new ConfigError(`at most ${MAX_CAPABILITIES} capabilities (got ${caps.length}: ${caps.join(", ")})`);
  }
  return caps;
}

/**
 * Builds a Sidecar from the resolved configuration. `tuning` overrides options the config file does
 * not carry (timers in tests, a stand-in agent in load tests); users never pass it.
 */
export async function sidecarFromConfig(r: Resolved, flags: SidecarFlags, log: Logger, tuning: Partial<SidecarOptions> = {}): Promise<Sidecar> {
  const id = checkIdentity(r.identity ?? identityFromHostname(hostname()));
  const sc = r.config.sidecar;
  const agent = tuning.agent ?? (await agentFromConfig(r, { ...(flags.gateway ? { gatewayUrl: flags.gateway } : {}), log }));
  return new Sidecar({
    identity: id,
    server: r.server,
    ...(r.creds ? { creds: r.creds } : {}),
    agent,
    stateDir: expandHome(flags.stateDir ?? sc?.stateDir ?? join(meshHome(), `sidecar-${id}`)),
    capabilities: capabilitiesOf(r, flags.capabilities),
    hooks: r.config.hooks,
    ...(sc?.inboxAckWaitMs ? { inboxAckWaitMs: sc.inboxAckWaitMs } : {}),
    ...(sc?.httpPort !== 0 ? { httpPort: sc?.httpPort ?? DEFAULT_HTTP_PORT } : {}),
    ...(r.config.alerts ? { alerts: r.config.alerts } : {}),
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
