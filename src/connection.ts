import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { credsAuthenticator, type ConnectionOptions, type NatsConnection } from "@nats-io/nats-core";
import { BrokerUnreachableError, MeshError } from "./errors.js";
import { assertPrivateFile } from "./config.js";

export interface ConnectOptions {
  server: string;
  creds?: string;
  name?: string;
  /** Keep reconnecting forever (sidecars) instead of failing fast (CLI). */
  persistent?: boolean;
  timeoutMs?: number;
}

/** Splits user:password out of a URL (nats://user:pass@host:4222) so servers get a clean URL. */
export function parseServers(raw: string): { servers: string[]; user?: string; pass?: string } {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const withScheme = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new MeshError(`invalid server URL ${JSON.stringify(s)} (expected nats://host:4222)`);
      }
      if (url.username) {
        user = decodeURIComponent(url.username);
        pass = decodeURIComponent(url.password);
      }
      return `${url.protocol}//${url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname}:${url.port || "4222"}`;
    });
  if (servers.length === 0) throw new MeshError("no server given (use --server nats://host:4222)");
  return { servers, ...(user !== undefined ? { user } : {}), ...(pass !== undefined ? { pass } : {}) };
}

export async function connectMesh(o: ConnectOptions): Promise<NatsConnection> {
  const { servers, user, pass } = parseServers(o.server);
  const opts: ConnectionOptions = {
    servers,
    name: o.name ?? "mesh",
    timeout: o.timeoutMs ?? 3000,
  };
  if (user !== undefined) {
    opts.user = user;
    opts.pass = pass ?? "";
  }
  if (o.creds) {
    assertPrivateFile(o.creds);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(o.creds);
    } catch {
      throw new MeshError(`cannot read credentials file ${o.creds}`);
    }
    opts.authenticator = credsAuthenticator(bytes);
  }
  if (o.persistent) {
    opts.maxReconnectAttempts = -1;
    opts.reconnectTimeWait = 500;
    opts.waitOnFirstConnect = true;
    opts.pingInterval = 10_000;
  } else {
    opts.maxReconnectAttempts = 0;
  }
  try {
    return await connect(opts);
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    if (/authorization|authentication|permissions/i.test(msg)) {
      throw new MeshError(`broker at ${servers.join(",")} refused the credentials: ${msg.split("\n")[0]}`);
    }
    throw new BrokerUnreachableError(
      `cannot reach the broker at ${servers.join(",")} (${msg.split("\n")[0]}); start one with \`mesh up\` or pass --server`,
    );
  }
}
