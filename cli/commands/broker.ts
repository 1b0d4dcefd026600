import { join } from "node:path";
import { identity } from "../../subjects/mod.js";
import { brokerStatus, isLoopback, monitorExposedWarning, provision, startLocalBroker, type ProvisionReport } from "../../broker/mod.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { connectMesh } from "../../src/bus/connection.js";
import { authInclude, macsOf, paths } from "../../broker/auth.js";
import { DEFAULT_HUB_LEAF_PORT, hubLeafOptions } from "../../broker/leaf-server.js";
import { provisionHub } from "../../broker/leaf-provision.js";
import { brokerStateDir, printJson, resolved, untilSignal, withConnection } from "./common.js";

interface UpOptions extends GlobalOptions {
  stateDir?: string;
  host: string;
  port: number;
  monitorHost: string;
  monitorPort: number;
  detach?: boolean;
  provision: boolean;
  /** Leaf mode: run as the hub (domain hub, a leafnode listener for the Macs' leaf servers). */
  hub?: boolean;
  leafPort?: number;
  leafAdvertise?: string;
}

export function describeReport(report: ProvisionReport): string {
  const parts = [
    ...Object.entries(report.streams).map(([k, v]) => `stream ${k} ${v}`),
    ...Object.entries(report.buckets).map(([k, v]) => `bucket ${k} ${v}`),
    ...Object.entries(report.consumers).map(([k, v]) => `consumer ${k} ${v}`),
  ];
  return parts.join("\n");
}

/** Waits for SIGINT/SIGTERM. */
export async function up(opts: UpOptions): Promise<void> {
  const r = await resolved(opts);
  const stateDir = brokerStateDir(r, opts.stateDir);
  const auth = authInclude(stateDir);
  const broker = await startLocalBroker({
    stateDir,
    host: opts.host,
    port: opts.port,
    monitorHost: opts.monitorHost,
    monitorPort: opts.monitorPort,
    ...(opts.detach ? { detach: true } : {}),
    ...(auth ? { extra: auth } : {}),
    ...(opts.hub
      ? {
          leaf: hubLeafOptions({
            host: opts.host,
            port: opts.leafPort ?? r.config.broker?.leafPort ?? DEFAULT_HUB_LEAF_PORT,
            ...((opts.leafAdvertise ?? r.config.broker?.leafAdvertise) ? { advertise: (opts.leafAdvertise ?? r.config.broker?.leafAdvertise)! } : {}),
          }),
        }
      : {}),
  });
  process.stdout.write(`broker: ${broker.url} (pid ${broker.pid}, state ${stateDir}, monitoring ${broker.monitorUrl})\n`);
  if (!isLoopback(opts.monitorHost)) process.stderr.write(`${monitorExposedWarning(opts.monitorHost, opts.monitorPort)}\n`);
  if (opts.provision) {
    const nc = await connectMesh({ server: broker.url, name: "mesh-broker-up", ...(auth ? { creds: paths(stateDir).admin } : {}) });
    try {
      const macs = opts.hub && auth ? macsOf(stateDir) : {};
      if (Object.keys(macs).length > 0) {
        const report = await provisionHub(nc, macs);
        process.stdout.write(`${Object.entries(report).map(([k, v]) => `${k} ${v}`).join("\n")}\n`);
      } else {
        const report = await provision(nc);
        process.stdout.write(`${describeReport(report)}\n`);
      }
    } finally {
      await nc.drain();
    }
  }
  if (opts.detach) {
    process.stdout.write(`running in the background; stop it with: kill $(cat ${join(stateDir, "nats-server.pid")})\n`);
    return;
  }
  process.stdout.write("Ctrl-C to stop\n");
  await untilSignal();
  await broker.stop();
  process.stdout.write("broker stopped\n");
}

interface ProvisionOptions extends GlobalOptions {
  replicas: number;
  for?: string;
  dropLegacy?: boolean;
  json?: boolean;
}

export async function provisionCmd(opts: ProvisionOptions): Promise<void> {
  const r = await resolved(opts);
  const ids = (opts.for ?? r.identity ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => identity(s));
  const report = await withConnection(r, (nc) => provision(nc, { identities: ids, replicas: opts.replicas, ...(opts.dropLegacy ? { dropLegacy: true } : {}) }));
  if (opts.json) return printJson(report);
  process.stdout.write(`${describeReport(report)}\n`);
}

export async function status(opts: GlobalOptions & { json?: boolean }): Promise<number> {
  const r = await resolved(opts);
  const s = await withConnection(r, (nc) => brokerStatus(nc));
  if (opts.json) {
    printJson(s);
  } else {
    const out = [
      `server ${s.server.name} nats-server ${s.server.version} at ${r.server}; JetStream ${s.server.jetstream ? "on" : "OFF"}; max payload ${s.server.maxPayload} bytes`,
    ];
    for (const st of s.streams) {
      out.push(
        st.present
          ? `  ${st.name.padEnd(18)} ${String(st.messages).padStart(8)} msgs ${String(st.bytes).padStart(10)} bytes  ${st.consumers} consumers  R${st.replicas}`
          : `  ${st.name.padEnd(18)} missing (run: mesh broker provision)`,
      );
    }
    for (const c of s.inboxConsumers) {
      out.push(`  inbox ${c.name.replace(/^inbox-/, "").padEnd(18)} ${c.pending} waiting, ${c.ackPending} in flight, ${c.redelivered} redelivered`);
    }
    process.stdout.write(`${out.join("\n")}\n`);
  }
  const healthy = s.server.jetstream && s.streams.every((x) => x.present);
  return healthy ? 0 : 2;
}
