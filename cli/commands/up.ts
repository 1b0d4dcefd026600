/** `mesh up`: the mesh on this machine (broker if needed, sidecar, web). register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import type { NatsConnection } from "@nats-io/nats-core";
import type { LocalBroker } from "../../broker/mod.js";
import type { GlobalOptions, Resolved } from "../../src/config/config.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { MeshError } from "../../src/base/errors.js";
import { DEFAULT_WEB_PORT } from "../../src/ops/web/defaults.js";
import { describeReport } from "./broker.js";
import { brokerStateDir, brokerStateDirFlag, brokerStateDirOptions, parsePort, configFor, run, selfIdentity, untilSignal } from "./common.js";

export function register(program: Command): void {
  const up = program.command("up").description("run the mesh on this machine: a local broker if none is reachable, provisioned");
  for (const o of brokerStateDirOptions("the embedded broker's state directory (default ~/.config/openclaw-mesh/broker)")) up.addOption(o);
  up.option("--no-web", "do not start the web view (mesh web)")
    .option("--web-port <port>", "port of the web view on 127.0.0.1", (v) => parsePort(v), DEFAULT_WEB_PORT)
    .addHelpText(
      "after",
      `
Uses --server / MESH_SERVER / the config file when a broker answers there; otherwise starts an
embedded nats-server on 127.0.0.1:4222. Ctrl-C stops what it started.`,
    )
    .action(run(meshUp));
}

async function hasGateway(r: Resolved): Promise<boolean> {
  const g = r.config.gateway;
  if (process.env.MESH_HOOKS_TOKEN || g?.hooksToken || g?.hooksTokenFile) return true;
  const { readGatewayConfig } = await import("../../src/agent/openclaw-config.js");
  return Boolean(readGatewayConfig().hooksToken);
}

interface UpOptions extends GlobalOptions {
  brokerStateDir?: string;
  /** The earlier spelling of --broker-state-dir. */
  stateDir?: string;
  web: boolean;
  webPort: number;
}

/** `mesh up`: use the configured broker when it answers, else start an embedded one; provision. */
async function meshUp(opts: UpOptions): Promise<void> {
  const [{ provision, startLocalBroker }, { connectionOf }, { connectMesh, parseServers }] = await Promise.all([
    import("../../broker/mod.js"),
    import("../../src/config/config.js"),
    import("../../src/bus/connection.js"),
  ]);
  const r = await configFor(opts);
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
    const stateDir = brokerStateDir(r, brokerStateDirFlag(opts));
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
    if (await hasGateway(r)) {
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
        const view = await startWebView({ nc: webNc, self, port: opts.webPort, log: createLogger({ name: "mesh-web" }), ...(r.config.leaf ? { leaf: { mac: r.config.leaf.mac, stateDir: r.config.leaf.stateDir } } : {}) });
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
