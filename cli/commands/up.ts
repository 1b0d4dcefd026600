import { provision, startLocalBroker, type LocalBroker } from "../../broker/mod.js";
import { connectionOf, type GlobalOptions } from "../../src/config/config.js";
import { connectMesh, parseServers } from "../../src/bus/connection.js";
import { MeshError } from "../../src/base/errors.js";
import type { NatsConnection } from "@nats-io/nats-core";
import { describeReport } from "./broker.js";
import { brokerStateDir, untilSignal } from "./common.js";
import { resolved, selfIdentity } from "./common.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import type { Resolved } from "../../src/config/config.js";
import { readGatewayConfig } from "../../src/agent/openclaw-config.js";

function hasGateway(r: Resolved): boolean {
  const g = r.config.gateway;
  return Boolean(process.env.MESH_HOOKS_TOKEN || g?.hooksToken || g?.hooksTokenFile || readGatewayConfig().hooksToken);
}

interface UpOptions extends GlobalOptions {
  brokerStateDir?: string;
  /** The earlier spelling of --broker-state-dir. */
  stateDir?: string;
  web: boolean;
  webPort: number;
}

/** `mesh up`: use the configured broker when it answers, else start an embedded one; provision. */
export async function up(opts: UpOptions): Promise<void> {
  const r = await resolved(opts);
  let broker: LocalBroker | undefined;
  let nc: NatsConnection;
  try {
    nc = await connectMesh({ ...connectionOf(r), name: "mesh-up", timeoutMs: 1500 });
    process.stdout.write(`broker: using ${r.server} (nats-server ${nc.info?.version ?? "?"})\n`);
  } catch (err) {
    if ((err as Error).name !== "BrokerUnreachableError") throw err;
    const first = parseServers(r.server).servers[0] ?? "";
    const url = new URL(first);
    if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(url.hostname)) {
      throw new MeshError(`no broker answers at ${r.server}, and it is not this machine, so mesh up will not start one`);
    }
    const stateDir = brokerStateDir(r, opts.brokerStateDir ?? opts.stateDir);
    broker = await startLocalBroker({
      stateDir,
      host: "127.0.0.1",
      port: Number(url.port || 4222),
      ...(r.config.broker?.monitorPort ? { monitorPort: r.config.broker.monitorPort } : {}),
    });
    process.stdout.write(`broker: started ${broker.url} (embedded nats-server, state ${stateDir})\n`);
    nc = await connectMesh({ server: broker.url, name: "mesh-up", persistent: true });
  }
  // All or nothing: if a part fails to start, what had started is stopped and mesh up exits non-zero.
  let sidecar: Sidecar | undefined;
  let web: { close(): Promise<void> } | undefined;
  const self = selfIdentity(r);
  try {
    const report = await provision(nc, { identities: [self] });
    process.stdout.write(`${describeReport(report)}\n`);
    if (hasGateway(r)) {
      const { sidecarFromConfig } = await import("../../src/sidecar/from-config.js");
      const { createLogger } = await import("../../src/base/log.js");
      const s = await sidecarFromConfig({ ...r, identity: self, server: broker?.url ?? r.server }, {}, createLogger({ name: "mesh-sidecar" }));
      await s.start();
      sidecar = s;
      process.stdout.write(`sidecar: ${self} → ${r.config.gateway?.url ?? "http://127.0.0.1:18789"}\n`);
    } else {
      process.stdout.write(`sidecar: not started (no gateway hooks token configured; see \`mesh init\` or README "From one Mac to two")\n`);
    }
    if (opts.web) {
      // The live page (mesh web) on loopback, on its own reconnecting connection as this identity.
      const { startWebView } = await import("../../src/ops/web/mod.js");
      const { createLogger } = await import("../../src/base/log.js");
      const server = broker?.url ?? r.server;
      const creds = broker ? undefined : r.creds;
      const webNc = await connectMesh({ server, ...(creds ? { creds } : {}), name: `mesh-web-${self}`, identity: self, persistent: true });
      try {
        const view = await startWebView({ nc: webNc, self, port: opts.webPort, log: createLogger({ name: "mesh-web" }) });
        process.stdout.write(`web: ${view.url}\n`);
        web = { close: async () => (await view.close(), await webNc.drain().catch(() => undefined)) };
      } catch (err) {
        await webNc.close();
        throw new MeshError(`the web view's port 127.0.0.1:${opts.webPort} is not available (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): pass --web-port <port>, or --no-web`, 1, { cause: err });
      }
    }
  } catch (err) {
    await sidecar?.stop("mesh up failed");
    await nc.drain().catch(() => undefined);
    if (broker) await broker.stop();
    throw err;
  }
  process.stdout.write(`mesh is up as ${self}; Ctrl-C to stop\n`);
  const signal = await untilSignal();
  process.stdout.write(`${signal}: shutting down\n`);
  await web?.close();
  await sidecar?.stop(signal);
  await nc.drain().catch(() => undefined);
  if (broker) await broker.stop();
  process.stdout.write("stopped\n");
}
