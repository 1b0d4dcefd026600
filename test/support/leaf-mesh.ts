/**
 * Leaf mode on one machine: a hub (domain `hub`, leafnode listener, the secure mesh's auth with a
 * leaf user per Mac) and one leaf nats-server per "Mac" (domain mac-<name>), each Mac's link going
 * through its own TCP proxy (test/support/link-proxy.ts). Real nats-servers (broker/local.ts, the
 * code of `mesh broker up`), real config (broker/leaf-server.ts), real provisioning.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { startLocalBroker, type LocalBroker } from "../../broker/local.js";
import { addIdentity, addMac, authInclude, initAuth, paths } from "../../broker/auth.js";
import { hubLeafOptions, macLeafOptions, parseLeafCredential } from "../../broker/leaf-server.js";
import { provisionHub, provisionLeaf } from "../../broker/leaf-provision.js";
import { connectMesh } from "../../src/bus/connection.js";
import { HUB_DOMAIN } from "../../subjects/names.js";
import { startLinkProxy, type LinkProxy } from "./link-proxy.js";
import { freePort } from "./ports.js";

export interface Server {
  url: string;
  port: number;
  monitorPort: number;
  monitorUrl: string;
  pid(): number;
  /** SIGKILL, keeping the store; start() brings it back on the same ports. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface LeafMac {
  name: string;
  ids: readonly string[];
  leaf: Server;
  proxy: LinkProxy;
  /** The config's `leaf` section on this Mac (what `mesh init --leaf` writes). */
  config: { mac: string; hub: string; credential: string; port: number; monitorPort: number; stateDir: string };
}

export interface LeafMesh {
  hub: Server;
  /** Where the hub's admin credential is (provisioning, attacks). */
  hubStateDir: string;
  macs: Record<string, LeafMac>;
  /** An admin connection to the hub (reconnects forever). */
  admin: NatsConnection;
  /** A client connection on a Mac's leaf server, as the CLI and sidecar there make one (reconnects forever). */
  client(mac: string, name?: string): Promise<NatsConnection>;
  close(): Promise<void>;
}

async function server(stateDir: string, start: (port: number, monitorPort: number) => Promise<LocalBroker>): Promise<Server> {
  const port = await freePort();
  const monitorPort = await freePort();
  let b = await start(port, monitorPort);
  return {
    url: b.url,
    port,
    monitorPort,
    monitorUrl: b.monitorUrl,
    pid: () => b.pid,
    kill: async () => {
      const exited = new Promise((r) => b.child.once("exit", r));
      b.child.kill("SIGKILL");
      await exited;
    },
    start: async () => {
      b = await start(port, monitorPort);
    },
    stop: () => b.stop(),
  };
}

export async function startLeafMesh(macs: Record<string, readonly string[]>): Promise<LeafMesh> {
  const root = mkdtempSync(join(tmpdir(), "mesh-leaf-"));
  const hubStateDir = join(root, "hub");
  initAuth(hubStateDir);
  for (const ids of Object.values(macs)) for (const id of ids) addIdentity(hubStateDir, id);
  const creds: Record<string, string> = {};
  for (const [mac, ids] of Object.entries(macs)) creds[mac] = addMac(hubStateDir, mac, ids).credentialFile;
  const leafPort = await freePort();
  const hub = await server(hubStateDir, (port, monitorPort) =>
    startLocalBroker({
      stateDir: hubStateDir,
      port,
      monitorPort,
      serverName: "hub",
      extra: authInclude(hubStateDir)!,
      // The hub tells leaves its leafnode address (gotcha 1; no_advertise does not stop it on 2.9.10),
      // and a leaf reconnects there too: that would bypass each Mac's proxy. Port 1 refuses at once.
      leaf: hubLeafOptions({ host: "127.0.0.1", port: leafPort, advertise: "127.0.0.1:1" }),
    }),
  );
  const admin = await connectMesh({ server: hub.url, creds: paths(hubStateDir).admin, persistent: true, name: "leaf-mesh-admin" });
  await provisionHub(admin, macs);
  const out: Record<string, LeafMac> = {};
  const clients: NatsConnection[] = [admin];
  for (const [mac, ids] of Object.entries(macs)) {
    const proxy = await startLinkProxy({ host: "127.0.0.1", port: leafPort });
    const credential = parseLeafCredential(readFileSync(creds[mac]!, "utf8"));
    if (!credential) throw new Error(`no leaf credential for ${mac}`);
    const stateDir = join(root, mac);
    const leaf = await server(stateDir, (port, monitorPort) =>
      startLocalBroker({ stateDir, port, monitorPort, serverName: `leaf-${mac}`, leaf: macLeafOptions({ mac, hub: `127.0.0.1:${proxy.port}`, credential }) }),
    );
    out[mac] = {
      name: mac,
      ids,
      leaf,
      proxy,
      config: { mac, hub: `nats-leaf://127.0.0.1:${proxy.port}`, credential: creds[mac]!, port: leaf.port, monitorPort: leaf.monitorPort, stateDir },
    };
  }
  const mesh: LeafMesh = {
    hub,
    hubStateDir,
    macs: out,
    admin,
    client: async (mac, name) => {
      const nc = await connectMesh({ server: out[mac]!.leaf.url, persistent: true, hubDomain: HUB_DOMAIN, name: name ?? `leaf-client-${mac}` });
      clients.push(nc);
      return nc;
    },
    close: async () => {
      for (const nc of clients) await nc.close().catch(() => undefined);
      for (const m of Object.values(out)) {
        await m.leaf.stop().catch(() => undefined);
        await m.proxy.close();
      }
      await hub.stop().catch(() => undefined);
      rmSync(root, { recursive: true, force: true });
    },
  };
  for (const [mac, ids] of Object.entries(macs)) {
    const nc = await mesh.client(mac, `leaf-provision-${mac}`);
    await provisionLeaf(nc, mac, ids);
  }
  return mesh;
}
