/**
 * The broker every bench scenario runs on: a local nats-server started like `mesh broker up`, with
 * authentication set up like `mesh broker init` and identities added like `mesh broker add-identity`
 * (the same functions those commands run: initAuth, addIdentity, provisionIdentity,
 * syncIdentityRegistry, so the same auth.conf, permissions, streams and identity registry). Only the
 * order differs: identities are added in bulk (registry and auth.conf written once, by the same
 * renderAuth) and the broker reloads once per batch, not once each: addIdentity rewrites both files
 * per call, so 1,000 of them took 197 s on the bench machine (quadratic), which measures the files,
 * not the mesh.
 * Every identity gets its own credential; the bench connects as that identity, signs with its key,
 * and the sidecars verify every signature against the registry.
 *
 * `secure: false` is the open mesh (no auth at all), for rows labelled "open mesh".
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createUser } from "@nats-io/nkeys";
import { initAuth, paths, readRegistry, renderAuth, syncIdentityRegistry } from "../../broker/auth.js";
import { credentialText } from "../../broker/credentials.js";
import type { Grants } from "../../broker/permissions.js";
import { retryWhileReloading } from "../../broker/after-reload.js";
import { provision, provisionIdentity } from "../../broker/provision.js";
import { startLocalBroker, type LocalBroker } from "../../broker/local.js";
import { connectMesh } from "../../src/bus/connection.js";
import { freePort } from "../support/ports.js";

export interface BenchBroker {
  secure: boolean;
  url: string;
  /** nats-server's monitoring endpoint (/varz). */
  monitorUrl: string;
  pid: number;
  /** Secure: the admin's connection. Open: an anonymous one. */
  admin: NatsConnection;
  /** The credential file of an added identity (secure only). */
  creds(id: string): string | undefined;
  /** Registers (secure), provisions and returns the identities; `parallel` provisions at a time. */
  addIdentities(ids: string[], grants?: Grants, parallel?: number): Promise<void>;
  /** A connection as `id`, with its credential on a secure mesh (closed by stop()). */
  as(id: string): Promise<NatsConnection>;
  /** nats-server's own resident memory (/varz `mem`), in bytes. */
  memBytes(): Promise<number>;
  stop(): Promise<void>;
}

/** addIdentity for many identities with default grants (or `grants`, already normalised): one write of each file. */
function addIdentitiesAtOnce(stateDir: string, ids: string[], grants: Grants = {}): void {
  const p = paths(stateDir);
  const reg = readRegistry(stateDir);
  mkdirSync(p.creds, { recursive: true, mode: 0o700 });
  const granted = {
    capabilities: [...(grants.capabilities ?? [])].sort(),
    queues: [...(grants.queues ?? ["default"])].sort(),
    alerts: Boolean(grants.alerts),
    ...(grants.hooks === false ? { hooks: false } : {}),
  };
  for (const id of ids) {
    const kp = createUser();
    writePrivate(join(p.creds, `${id}.nk`), credentialText(id, new TextDecoder().decode(kp.getSeed())));
    reg.identities[id] = { publicKey: kp.getPublicKey(), addedAt: new Date().toISOString(), ...granted };
  }
  writePrivate(p.registry, `${JSON.stringify(reg, null, 2)}\n`);
  writePrivate(p.auth, renderAuth(reg));
}

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

/** What the broker reported on its monitoring port. */
async function varz(monitorUrl: string): Promise<{ mem: number; connections: number }> {
  const r = await fetch(`${monitorUrl}/varz`);
  if (!r.ok) throw new Error(`${monitorUrl}/varz answered ${r.status}`);
  return (await r.json()) as { mem: number; connections: number };
}

export async function startBenchBroker(o: { secure: boolean; name: string }): Promise<BenchBroker> {
  const root = mkdtempSync(join(tmpdir(), `mesh-bench-${o.name}-`));
  // The auth state (registry, auth.conf, creds/) in root; the server's own state (config, store,
  // pid) one level down, so addIdentity writes files without signalling the server each time.
  const stateDir = join(root, "server");
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  if (o.secure) initAuth(root);
  const broker: LocalBroker = await startLocalBroker({
    stateDir,
    port: await freePort(),
    monitorPort: await freePort(),
    serverName: `mesh-bench-${o.name}`,
    ...(o.secure ? { extra: `include "../auth.conf"` } : {}),
  });
  const open: NatsConnection[] = [];
  const credsOf = (id: string): string => join(paths(root).creds, `${id}.nk`);
  try {
    const admin = await connectMesh({ server: broker.url, ...(o.secure ? { creds: paths(root).admin } : {}), name: `mesh-bench-admin-${o.name}` });
    open.push(admin);
    await provision(admin);
    // Provisioning 1,000 identities (4 streams each, one sourcing EVENTS) on a loaded machine: a
    // stream create may take longer than the client's default 5 s API timeout.
    const jsm = await jetstreamManager(admin, { timeout: 30_000 });
    return {
      secure: o.secure,
      url: broker.url,
      monitorUrl: broker.monitorUrl,
      pid: broker.pid,
      admin,
      creds: (id) => (o.secure ? credsOf(id) : undefined),
      async addIdentities(ids, grants, parallel = 8) {
        if (o.secure) {
          addIdentitiesAtOnce(root, ids, grants);
          // One reload for the batch (what add-identity's SIGHUP does), then wait until the
          // server accepts the last identity's credential.
          process.kill(broker.pid, "SIGHUP");
          const last = ids.at(-1);
          if (last) {
            const deadline = Date.now() + 30_000;
            for (;;) {
              const nc = await connectMesh({ server: broker.url, creds: credsOf(last), identity: last, timeoutMs: 2000 }).catch((err: Error) => err);
              if (!(nc instanceof Error)) {
                await nc.close();
                break;
              }
              if (Date.now() > deadline) throw new Error(`the broker did not accept ${last}'s credential 30 s after the reload: ${nc.message}`);
              await new Promise((r) => setTimeout(r, 100));
            }
          }
        }
        // retryWhileReloading: the reload above takes the JetStream API away for a moment (after-reload.ts).
        for (let i = 0; i < ids.length; i += parallel) await Promise.all(ids.slice(i, i + parallel).map((id) => retryWhileReloading(() => provisionIdentity(jsm, id, { hooks: grants?.hooks !== false }))));
        if (o.secure) await retryWhileReloading(() => syncIdentityRegistry(admin, root));
      },
      async as(id) {
        const nc = await connectMesh({ server: broker.url, ...(o.secure ? { creds: credsOf(id), identity: id } : {}), name: `mesh-bench-${id}` });
        open.push(nc);
        return nc;
      },
      memBytes: async () => (await varz(broker.monitorUrl)).mem,
      async stop() {
        for (const nc of open) await nc.close().catch(() => undefined);
        await broker.stop();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const nc of open) await nc.close().catch(() => undefined);
    await broker.stop();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}
