import { hostname } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { identity, identityFromHostname } from "../../subjects/identity.js";
import { connectionOf, meshHome, resolveConfig, type GlobalOptions, type Resolved } from "../../src/config/config.js";
import { connectMesh } from "../../src/bus/connection.js";
import { MeshError } from "../../src/base/errors.js";

export function resolved(opts: GlobalOptions): Promise<Resolved> {
  return resolveConfig(opts);
}

/** This machine's identity: --identity / MESH_IDENTITY / config, else derived from the host name. */
export function selfIdentity(r: Resolved, override?: string): string {
  return identity(override ?? r.identity ?? identityFromHostname(hostname()), "sender identity");
}

export async function withConnection<T>(r: Resolved, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connectMesh({ ...connectionOf(r), name: "mesh-cli", identity: selfIdentity(r) });
  try {
    return await fn(nc);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

export async function readStdin(what = "text"): Promise<string> {
  if (process.stdin.isTTY) throw new MeshError(`no ${what} given: pass it as an argument or pipe it on stdin`);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8").replace(/\n$/, "");
  if (text.length === 0) throw new MeshError(`no ${what} given: stdin was empty`);
  return text;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The broker's state directory: the flag, the config's broker.stateDir, or ~/.config/openclaw-mesh/broker. */
export function brokerStateDir(r: Resolved, flag?: string): string {
  return flag ?? r.config.broker?.stateDir ?? join(meshHome(), "broker");
}

/** Resolves with the signal that asks a long-running command (sidecar, up, web) to stop. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
}
