import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstream } from "@nats-io/jetstream";
import { createLogger } from "../../src/base/log.js";
import { resolveConfig } from "../../src/config/config.js";
import { openclawHooksAgent, type RunReplySource } from "../../src/agent/openclaw-hooks/adapter.js";
import type { z } from "zod";
import type { ruleSchema } from "../../src/features/hooks/rules.js";
import type { PeerAlertConfig } from "../../src/features/alerts/peer-alerts.js";
import { sidecarFromConfigTuned } from "../../src/sidecar/from-config.js";
import type { Sidecar, SidecarOptions } from "../../src/sidecar/sidecar.js";
import { parseEnvelope, type Envelope } from "../../subjects/mod.js";

export interface TestSidecarOptions {
  identity: string;
  server: string;
  gatewayUrl: string;
  hooksToken: string;
  /** The gateway's auth token: the sidecar then watches its WebSocket (replies, lifecycle). */
  gatewayToken?: string;
  /** config gateway.bridge (default: the config's default, "auto"). */
  bridge?: "auto" | "a2a" | "hooks";
  /** config gateway.configFile: the gateway's openclaw.json. */
  gatewayConfigFile?: string;
  /** config sidecar.maxHops. */
  maxHops?: number;
  creds?: string;
  /** A stand-in reply source (load tests without a real gateway WebSocket). */
  replies?: RunReplySource;
  stateDir?: string;
  capabilities?: string[];
  jobs?: false | { concurrency?: number; queues?: string[]; ackWaitMs?: number };
  /** Rules as written in a config file. */
  hooks?: Array<z.input<typeof ruleSchema>>;
  alerts?: PeerAlertConfig & { checkMs?: number };
  presenceIntervalMs?: number;
  /** 0: any free port. Unset: off. */
  httpPort?: number;
  /** config sidecar.a2aClients: other A2A clients with a token file each. */
  a2aClients?: Array<{ name: string; tokenFile: string }>;
  /** config sidecar.a2aHost / a2aPort: the opt-in A2A listener beyond loopback. */
  a2aListen?: { host: string; port: number };
  inboxAckWaitMs?: number;
  logFile?: string;
  /** config `repos`: shared repos (clones and the remote each follows). */
  repos?: Array<{ path: string; remote: string; name?: string }>;
  /** config `leaf`: leaf mode (`server` is then the Mac's leaf server). */
  leaf?: { mac: string; hub: string; credential: string; port: number; monitorPort: number; stateDir: string };
}

/**
 * A sidecar built the way users get one: a config file (mode 0600) is written, resolved by
 * resolveConfig and turned into a Sidecar by sidecarFromConfig — the same path as `mesh sidecar`.
 * Only what a config file cannot say (faster timers, a stand-in reply source, a log file) is
 * passed as tuning.
 */
export async function testSidecar(o: TestSidecarOptions): Promise<Sidecar & { stateDir: string; configPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), `mesh-sidecar-${o.identity}-`));
  const stateDir = o.stateDir ?? join(dir, "state");
  const jobs = o.jobs;
  const config = {
    identity: o.identity,
    capabilities: o.capabilities ?? [],
    gateway: {
      url: o.gatewayUrl,
      hooksToken: o.hooksToken,
      ...(o.gatewayToken ? { token: o.gatewayToken } : {}),
      // Never the test machine's own ~/.openclaw: "hooks" unless the test names a gateway config.
      bridge: o.bridge ?? (o.gatewayConfigFile ? "auto" : "hooks"),
      ...(o.gatewayConfigFile ? { configFile: o.gatewayConfigFile } : {}),
    },
    hooks: o.hooks ?? [],
    ...(o.repos ? { repos: o.repos } : {}),
    ...(o.leaf ? { leaf: o.leaf } : {}),
    ...(o.alerts ? { alerts: { channel: o.alerts.channel, to: o.alerts.to, downAfterMs: o.alerts.downAfterMs } } : {}),
    sidecar: {
      stateDir,
      httpPort: 0,
      ...(jobs === false ? { jobs: false } : {}),
      ...(jobs && jobs.concurrency ? { jobConcurrency: jobs.concurrency } : {}),
      ...(jobs && jobs.queues ? { jobQueues: jobs.queues } : {}),
      ...(o.inboxAckWaitMs ? { inboxAckWaitMs: o.inboxAckWaitMs } : {}),
      ...(o.maxHops !== undefined ? { maxHops: o.maxHops } : {}),
      ...(o.a2aClients ? { a2aClients: o.a2aClients } : {}),
      ...(o.a2aListen ? { a2aHost: o.a2aListen.host, a2aPort: o.a2aListen.port } : {}),
    },
  };
  const configPath = join(dir, "config.json");
  writeFileSync(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  chmodSync(configPath, 0o600);
  const r = await resolveConfig({ config: configPath, server: o.server, ...(o.creds ? { creds: o.creds } : {}) }, {});
  const log = createLogger({
    name: `sidecar-${o.identity}`,
    level: o.logFile ? "trace" : (process.env.MESH_TEST_LOG ?? "silent"),
    ...(o.logFile ? { destination: o.logFile } : {}),
  });
  const tuning: Partial<SidecarOptions> = {
    presenceIntervalMs: o.presenceIntervalMs ?? 1000,
    ...(o.httpPort !== undefined ? { httpPort: o.httpPort } : {}),
    ...(jobs && jobs.ackWaitMs ? { jobs } : {}),
    ...(o.alerts?.checkMs ? { alerts: o.alerts } : {}),
    ...(o.replies
      ? { agent: openclawHooksAgent({ endpoint: { url: o.gatewayUrl, hooksPath: "/hooks", hooksToken: o.hooksToken }, replies: o.replies }) }
      : {}),
  };
  const sidecar = await sidecarFromConfigTuned(r, {}, log, tuning);
  await sidecar.start();
  return Object.assign(sidecar, { stateDir, configPath });
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
  try {
    const info = await c.info(true);
    let left = info.num_pending;
    if (left === 0) return out;
    const iter = await c.fetch({ max_messages: left, expires: 3000 });
    for await (const m of iter) {
      out.push(parseEnvelope(m.data));
      if (--left === 0) break;
    }
    return out;
  } finally {
    // Streams bound their consumers (32 on an inbox or dead-letter stream): callers poll this in loops.
    await c.delete().catch(() => undefined);
  }
}

export { stubReplies } from "../bench/stub-replies.js";
