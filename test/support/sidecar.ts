import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { createLogger } from "../../src/log.js";
import { gatewayPort } from "../../src/gateway/gateway-port.js";
import { Sidecar, type GatewayEventSource } from "../../src/sidecar/sidecar.js";
import type { RunReplySource } from "../../src/gateway/gateway-port.js";
import { parseEnvelope, type Envelope } from "../../subjects/mod.js";

export function startTestSidecar(o: {
  identity: string;
  server: string;
  gatewayUrl: string;
  hooksToken: string;
  replies?: RunReplySource;
  gatewayEvents?: GatewayEventSource;
  stateDir?: string;
  capabilities?: string[];
  jobs?: false | { concurrency?: number; queues?: string[]; ackWaitMs?: number };
  hooks?: import("../../src/hooks/rules.js").HookRule[];
  alerts?: import("../../src/alerts/peer-alerts.js").PeerAlertConfig & { checkMs?: number };
  presenceIntervalMs?: number;
  httpPort?: number;
  inboxAckWaitMs?: number;
}): Promise<Sidecar> & { stateDir: string } {
  const stateDir = o.stateDir ?? mkdtempSync(join(tmpdir(), `mesh-sidecar-${o.identity}-`));
  const sidecar = new Sidecar({
    identity: o.identity,
    server: o.server,
    gateway: gatewayPort({ url: o.gatewayUrl, hooksPath: "/hooks", hooksToken: o.hooksToken }, o.replies),
    ...(o.gatewayEvents ? { gatewayEvents: o.gatewayEvents } : {}),
    stateDir,
    capabilities: o.capabilities ?? [],
    ...(o.jobs !== undefined ? { jobs: o.jobs } : {}),
    ...(o.hooks ? { hooks: o.hooks } : {}),
    ...(o.httpPort !== undefined ? { httpPort: o.httpPort } : {}),
    ...(o.inboxAckWaitMs !== undefined ? { inboxAckWaitMs: o.inboxAckWaitMs } : {}),
    ...(o.alerts ? { alerts: o.alerts } : {}),
    log: createLogger({ name: `sidecar-${o.identity}`, level: process.env.MESH_TEST_LOG ?? "silent" }),
    presenceIntervalMs: o.presenceIntervalMs ?? 1000,
  });
  const p = sidecar.start().then(() => sidecar) as Promise<Sidecar> & { stateDir: string };
  p.stateDir = stateDir;
  return p;
}

export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** All envelopes stored on a subject filter of a stream (read with an ordered consumer). */
export async function storedEnvelopes(nc: NatsConnection, stream: string, filter: string): Promise<Envelope[]> {
  const js = jetstream(nc);
  const c = await js.consumers.get(stream, { filter_subjects: filter });
  const out: Envelope[] = [];
  const info = await c.info(true);
  let left = info.num_pending;
  if (left === 0) return out;
  const iter = await c.fetch({ max_messages: left, expires: 3000 });
  for await (const m of iter) {
    out.push(parseEnvelope(m.data));
    if (--left === 0) break;
  }
  return out;
}

export { stubReplies } from "../../src/bench/stub-replies.js";
