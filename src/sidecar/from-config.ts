import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { identity as checkIdentity, identityFromHostname } from "../../subjects/mod.js";
import { assertPrivateFile, expandHome, meshHome, type Resolved } from "../config.js";
import { ConfigError } from "../errors.js";
import { gatewayPort } from "../gateway/gateway-port.js";
import type { GatewayEndpoint } from "../gateway/hooks.js";
import { readGatewayConfig } from "../bootstrap/gateway-config.js";
import type { GatewayPort } from "./types.js";
import type { Logger } from "../log.js";
import { Sidecar, type SidecarOptions } from "./sidecar.js";

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

/** Hooks only (no WebSocket): enough for `mesh hooks test` and `mesh doctor`. */
export function gatewayFromConfig(r: Resolved): GatewayPort {
  return gatewayPort(gatewayEndpoint(r));
}

/** Builds a Sidecar from the resolved configuration (config file + env + flags). */
export async function sidecarFromConfig(r: Resolved, flags: SidecarFlags, log: Logger): Promise<Sidecar> {
  const id = checkIdentity(r.identity ?? identityFromHostname(hostname()));
  const gw = r.config.gateway;
  const endpoint = gatewayEndpoint(r, flags.gateway);
  const url = endpoint.url;
  const gatewayToken =
    secret(gw?.token, gw?.tokenFile, process.env.MESH_GATEWAY_TOKEN, "gateway token") ??
    (gw?.hooksToken || gw?.hooksTokenFile ? undefined : readGatewayConfig().gatewayToken);
  let replies: Parameters<typeof gatewayPort>[1];
  let gatewayEvents: SidecarOptions["gatewayEvents"];
  if (gatewayToken) {
    const { gatewayWatch } = await import("../gateway/watch.js");
    const watch = gatewayWatch({ url, token: gatewayToken, log });
    replies = watch.replies;
    gatewayEvents = watch.events;
  } else {
    log.warn("no gateway token: gateway events are not mirrored and `mesh ask` replies cannot be read");
  }
  const capabilities = flags.capabilities
    ? flags.capabilities.split(",").map((c) => checkIdentity(c.trim()))
    : r.config.capabilities;
  return new Sidecar({
    identity: id,
    server: r.server,
    ...(r.creds ? { creds: r.creds } : {}),
    gateway: gatewayPort(endpoint, replies),
    ...(gatewayEvents ? { gatewayEvents } : {}),
    stateDir: expandHome(flags.stateDir ?? r.config.sidecar?.stateDir ?? join(meshHome(), `sidecar-${id}`)),
    capabilities,
    ...(gw?.agentId ? { agentId: gw.agentId } : {}),
    hooks: r.config.hooks,
    ...(r.config.sidecar?.inboxAckWaitMs ? { inboxAckWaitMs: r.config.sidecar.inboxAckWaitMs } : {}),
    ...(r.config.sidecar?.httpPort !== 0 ? { httpPort: r.config.sidecar?.httpPort ?? 9469 } : {}),
    ...(r.config.alerts ? { alerts: r.config.alerts } : {}),
    jobs:
      r.config.sidecar?.jobs === false
        ? false
        : {
            ...(r.config.sidecar?.jobConcurrency ? { concurrency: r.config.sidecar.jobConcurrency } : {}),
            ...(r.config.sidecar?.jobQueues ? { queues: r.config.sidecar.jobQueues } : {}),
          },
    log,
  });
}
