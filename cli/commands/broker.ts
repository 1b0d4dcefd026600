/**
 * `mesh broker up|provision|status|init`: run and manage the NATS broker (and, hidden, the earlier
 * spellings `broker add-identity` / `broker revoke` of `mesh identity add|revoke`). register()
 * declares them; each action loads what it runs.
 */
import { join } from "node:path";
import type { Command } from "@commander-js/extra-typings";
import { identity } from "../../subjects/identity.js";
import { isLoopback } from "../../src/base/loopback-host.js";
import type { ProvisionReport } from "../../broker/mod.js";
import type { GlobalOptions } from "../../src/config/config.js";
import type { AuthOpts } from "./broker-auth.js";
import { macsOf } from "../../broker/auth.js";
import { DEFAULT_HUB_LEAF_PORT, hubLeafOptions } from "../../broker/leaf-server.js";
import { provisionHub } from "../../broker/leaf-provision.js";
import { declareAdd, declareRevoke } from "./identity.js";
import { brokerStateDir, brokerStateDirFlag, brokerStateDirOptions, jsonFlag, parseCount, parsePort, printJson, configFor, run, untilSignal, withConnection } from "./common.js";

const initAuth = async (opts: AuthOpts): Promise<void> => (await import("./broker-auth.js")).init(opts);

export function register(program: Command): void {
  const broker = program
    .command("broker")
    .description("run and manage the NATS broker")
    .addHelpText("after", "\nIdentities and their credentials: mesh identity add|revoke|list (earlier: mesh broker add-identity, mesh broker revoke).");

  const brokerUp = broker
    .command("up")
    .description("run nats-server with JetStream as a child process (state in a directory), provisioned");
  for (const o of brokerStateDirOptions("state directory (default ~/.config/openclaw-mesh/broker)")) brokerUp.addOption(o);
  brokerUp
    .option("--host <host>", "address to listen on (0.0.0.0 or the tailnet IP to serve other machines)", "127.0.0.1")
    .option("--port <port>", "client port", (v) => parsePort(v), 4222)
    .option("--monitor-port <port>", "monitoring (HTTP) port", (v) => parsePort(v), 8222)
    .option("--monitor-host <host>", "address of the monitoring port (unauthenticated: keep it on loopback unless you need it elsewhere)", "127.0.0.1")
    .option("--detach", "run in the background (pid in the state directory)")
    .option("--no-provision", "do not create streams and buckets")
    .option("--hub", "offline-first: be the hub (JetStream domain hub) with a leafnode listener for the Macs' leaf servers")
    .option("--leaf-port <port>", "with --hub: the leafnode port (default 7422, config broker.leafPort)", (v) => parsePort(v))
    .option("--leaf-advertise <host:port>", "with --hub: the address the hub tells leaves, e.g. its tailnet name:7422 (config broker.leafAdvertise)")
    .addHelpText(
      "after",
      `
Examples:
  $ mesh broker up                                 loopback only, foreground (Ctrl-C stops it)
  $ mesh broker up --host 100.101.102.103 --detach serve the tailnet from this Mac (monitoring stays on 127.0.0.1)`,
    )
    .action(run(up));

  broker
    .command("provision")
    .description("create or update the mesh streams, buckets and inbox consumers (idempotent)")
    .option("--replicas <n>", "stream replicas (3 on a 3-node cluster)", (v) => parseCount(v), 1)
    .option("--for <identities>", "also create these identities' inbox, dead-letter and hook streams (comma-separated)")
    .option("--drop-legacy", "delete the shared INBOX and DLQ streams of an earlier version (after their messages were delivered)")
    .addOption(jsonFlag("print the report as JSON"))
    .action(run(provisionCmd));

  broker
    .command("status")
    .description("show the broker, its streams and the inbox consumers")
    .addOption(jsonFlag("print as JSON"))
    .action(run(status));

  const init = broker.command("init").description("require credentials: an admin key and a registry of identities (no anonymous clients)");
  for (const o of brokerStateDirOptions("broker state directory (default ~/.config/openclaw-mesh/broker)")) init.addOption(o);
  init
    .option("--tls", "also make a CA and a server certificate and serve TLS")
    .option("--host <names...>", "names/IPs for the server certificate (default 127.0.0.1 localhost)")
    .addHelpText("after", "\nA running broker (mesh broker up) reloads at once; anonymous clients are refused from then on.")
    .action(run(initAuth));

  const addMac = broker
    .command("add-mac")
    .description("offline-first: a Mac's leaf credential (its identities' traffic only) and the hub side of the Mac")
    .argument("<mac>", "the Mac's name, e.g. nova")
    .option("--identities <list>", "the registered identities this Mac hosts (comma-separated)");
  for (const o of brokerStateDirOptions("broker state directory (default ~/.config/openclaw-mesh/broker)")) addMac.addOption(o);
  addMac
    .option("--out <file>", "where to write the leaf credential (default <broker-state-dir>/creds/leaf-<mac>.leaf)")
    .option("--hub-address <url>", "the hub's leafnode address to print in the Mac's init line (nats-leaf://<hub>:7422)")
    .addHelpText("after", "\nExample:\n  mesh broker add-mac nova --identities nova,nova2 --hub-address nats-leaf://mini.tailnet.ts.net:7422")
    .action(run(async (mac: string, opts: Parameters<Awaited<typeof import("./broker-auth.js")>["addMacCmd"]>[1]) => (await import("./broker-auth.js")).addMacCmd(mac, opts)));

  // The earlier spellings of `mesh identity add|revoke`: the same arguments, flags and actions.
  declareAdd(broker.command("add-identity", { hidden: true }));
  declareRevoke(broker.command("revoke", { hidden: true }));
}

interface UpOptions extends GlobalOptions {
  brokerStateDir?: string;
  /** The earlier spelling of --broker-state-dir. */
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
async function up(opts: UpOptions): Promise<void> {
  const [{ monitorExposedWarning, provision, startLocalBroker }, { authInclude, paths }, { connectMesh }] = await Promise.all([
    import("../../broker/mod.js"),
    import("../../broker/auth.js"),
    import("../../src/bus/connection.js"),
  ]);
  const r = await configFor(opts);
  const stateDir = brokerStateDir(r, brokerStateDirFlag(opts));
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
      if (auth) {
        // Identities added while no broker ran (broker init, add-identity, then broker up): their
        // streams and their registry entries (what every reader verifies signatures against).
        const [{ provisionIdentities }, { readRegistry, syncIdentityRegistry }] = await Promise.all([import("../../broker/provision.js"), import("../../broker/auth.js")]);
        const reg = readRegistry(stateDir);
        const hosted = new Set(Object.values(macs).flat());
        await provisionIdentities(
          nc,
          Object.entries(reg.identities)
            .filter(([id]) => !hosted.has(id))
            .map(([id, e]) => ({ id, hooks: e.hooks !== false })),
        );
        const synced = await syncIdentityRegistry(nc, stateDir);
        if (synced.put.length || synced.removed.length) process.stdout.write(`identity registry: ${synced.put.length} written, ${synced.removed.length} removed\n`);
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

async function provisionCmd(opts: ProvisionOptions): Promise<void> {
  const { provision } = await import("../../broker/mod.js");
  const r = await configFor(opts);
  const ids = (opts.for ?? r.identity ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => identity(s));
  const report = await withConnection(r, (nc) => provision(nc, { identities: ids, replicas: opts.replicas, ...(opts.dropLegacy ? { dropLegacy: true } : {}) }));
  if (opts.json) return printJson(report);
  process.stdout.write(`${describeReport(report)}\n`);
}

async function status(opts: GlobalOptions & { json?: boolean }): Promise<number> {
  const { brokerStatus } = await import("../../broker/mod.js");
  const r = await configFor(opts);
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
