/**
 * What `mesh broker init` and `mesh identity add|revoke|list` run: the broker's credentials and
 * its registry of identities. Loaded only when one of them runs (broker.ts and identity.ts
 * declare the commands).
 */
import { addIdentity as addIdentityFiles, addMac, initAuth, macsOf, paths, readRegistry, revokeIdentity, syncIdentityRegistry } from "../../broker/auth.js";
import { provisionHub } from "../../broker/leaf-provision.js";
import { DEFAULT_HUB_LEAF_PORT, DEFAULT_LEAF_CLIENT_PORT, DEFAULT_LEAF_MONITOR_PORT } from "../../broker/leaf-server.js";
import { retryWhileReloading } from "../../broker/after-reload.js";
import { provision, provisionIdentity } from "../../broker/provision.js";
import { jetstreamManager } from "@nats-io/jetstream";
import type { GlobalOptions, Resolved } from "../../src/config/config.js";
import { connectMesh } from "../../src/bus/connection.js";
import { brokerStateDir, brokerStateDirFlag, printJson, configFor } from "./common.js";

export interface AuthOpts extends GlobalOptions {
  brokerStateDir?: string;
  /** The earlier spelling of --broker-state-dir. */
  stateDir?: string;
  tls?: boolean;
  host?: string[];
  out?: string;
  capabilities?: string;
  queues?: string;
  alerts?: boolean;
  /** --hooks / --no-hooks (undefined: not given). */
  hooks?: boolean;
}

/** Runs `fn` with an admin connection when the broker answers; says so when it does not. */
async function asAdmin(r: Resolved, stateDir: string, fn: (nc: Awaited<ReturnType<typeof connectMesh>>) => Promise<void>): Promise<boolean> {
  try {
    const nc = await connectMesh({ server: r.server, creds: r.creds ?? paths(stateDir).admin, name: "mesh-admin", timeoutMs: 3000 });
    try {
      await fn(nc);
    } finally {
      await nc.close();
    }
    return true;
  } catch (err) {
    process.stderr.write(`mesh: note: broker not updated now (${(err as Error).message}); the files are written and apply when it starts\n`);
    return false;
  }
}

export async function init(opts: AuthOpts): Promise<void> {
  const r = await configFor(opts);
  const stateDir = brokerStateDir(r, brokerStateDirFlag(opts));
  const res = initAuth(stateDir, { ...(opts.tls ? { tls: true } : {}), ...(opts.host ? { hosts: opts.host } : {}) });
  const out = [
    res.created ? `authentication set up in ${stateDir}` : `authentication already set up in ${stateDir}`,
    `admin credential: ${res.adminCreds} (0600; use --creds ${res.adminCreds} for provision and admin commands)`,
    res.updated
      ? `permissions rendered anew from the registry (this release grants more)${res.reloaded ? "; running broker reloaded" : "; they apply when the broker starts"}`
      : res.reloaded
        ? "running broker reloaded: anonymous clients are now refused"
        : "start the broker with `mesh broker up` (it includes auth.conf)",
  ];
  if (res.tls) out.push(`TLS: CA ${res.tls.ca}; clients set MESH_TLS_CA=${res.tls.ca} and use tls://host:4222`);
  out.push("next: mesh identity add <name> for each Mac");
  process.stdout.write(`${out.join("\n")}\n`);
  if (res.reloaded) {
    await new Promise((x) => setTimeout(x, 300));
    await asAdmin(r, stateDir, async (nc) => {
      await retryWhileReloading(() => provision(nc));
      await retryWhileReloading(() => syncIdentityRegistry(nc, stateDir));
    });
  }
}

export async function addIdentityCmd(id: string, opts: AuthOpts): Promise<void> {
  const r = await configFor(opts);
  const stateDir = brokerStateDir(r, brokerStateDirFlag(opts));
  const list = (v: string | undefined): string[] | undefined => (v === undefined ? undefined : v.split(",").map((x) => x.trim()).filter(Boolean));
  const caps = list(opts.capabilities);
  const queues = list(opts.queues);
  const grants =
    caps || queues || opts.alerts || opts.hooks !== undefined
      ? { ...(caps ? { capabilities: caps } : {}), ...(queues ? { queues } : {}), alerts: Boolean(opts.alerts), ...(opts.hooks === false ? { hooks: false } : {}) }
      : undefined;
  const res = addIdentityFiles(stateDir, id, opts.out, grants);
  if (res.reloaded) await new Promise((x) => setTimeout(x, 300));
  await asAdmin(r, stateDir, async (nc) => {
    await retryWhileReloading(async () => {
      await provision(nc);
      const granted = readRegistry(stateDir).identities[res.id];
      await provisionIdentity(await jetstreamManager(nc), res.id, { hooks: granted?.hooks !== false });
    });
    await retryWhileReloading(() => syncIdentityRegistry(nc, stateDir));
  });
  const tls = readRegistry(stateDir).tls;
  process.stdout.write(
    [
      `${res.existed ? (res.reloaded ? "updated the grants of" : "already registered") : "registered"} ${res.id} (${res.publicKey})`,
      `grants: ${describeGrants(readRegistry(stateDir).identities[res.id] ?? {})}`,
      `credential: ${res.seedFile} (0600) — copy it to ${res.id}'s Mac, e.g. to ~/.config/openclaw-mesh/${res.id}.nk, then run there:`,
      `  mesh init --identity ${res.id} --server ${r.server.replace(/\/\/[^@]*@/, "//")} --creds ~/.config/openclaw-mesh/${res.id}.nk`,
      ...(tls ? [`TLS: also copy ${tls.ca} and set MESH_TLS_CA to it there (server URL tls://…)`] : []),
    ].join("\n") + "\n",
  );
}

export async function revokeCmd(id: string, opts: AuthOpts): Promise<void> {
  const r = await configFor(opts);
  const stateDir = brokerStateDir(r, brokerStateDirFlag(opts));
  const res = revokeIdentity(stateDir, id);
  await asAdmin(r, stateDir, async (nc) => void (await retryWhileReloading(() => syncIdentityRegistry(nc, stateDir))));
  process.stdout.write(`revoked ${res.id}${res.reloaded ? "; the broker reloaded and refuses it now" : ""}\n`);
}

/** The identities the broker knows, with their grants (from its registry; no broker connection needed). */
export async function listCmd(opts: AuthOpts & { json?: boolean }): Promise<void> {
  const r = await configFor(opts);
  const identities = readRegistry(brokerStateDir(r, brokerStateDirFlag(opts))).identities;
  const ids = Object.keys(identities).sort();
  if (opts.json) return printJson(ids.map((id) => ({ identity: id, ...identities[id] })));
  if (ids.length === 0) return void process.stdout.write("no identities yet: mesh identity add <name>\n");
  const width = Math.max(...ids.map((id) => id.length));
  for (const id of ids) {
    const g = identities[id]!;
    process.stdout.write(`${id.padEnd(width)}  ${g.publicKey}  added ${g.addedAt}  ${describeGrants(g)}\n`);
  }
}

function describeGrants(g: { capabilities?: readonly string[]; queues?: readonly string[]; alerts?: boolean; hooks?: boolean }): string {
  const caps = g.capabilities?.length ? g.capabilities.join(", ") : "none";
  return `runs jobs of queues ${(g.queues ?? ["default"]).join(", ")} needing at most capabilities ${caps}; peer alerts ${g.alerts ? "yes" : "no"}; hook rules ${g.hooks === false ? "no" : "yes"}`;
}

/**
 * `mesh broker add-mac <name> --identity a,b`: a leaf user for the Mac (its identities' traffic only),
 * its credential file, and the hub side of the Mac (its outbox mirror, the sources of every other
 * identity's inbox and of EVENTS).
 */
export async function addMacCmd(mac: string, opts: AuthOpts & { identities?: string; hubAddress?: string }): Promise<void> {
  const r = await configFor({ ...opts, identity: undefined });
  const stateDir = brokerStateDir(r, brokerStateDirFlag(opts));
  const ids = (opts.identities ?? "").split(",").map((x) => x.trim()).filter(Boolean);
  const res = addMac(stateDir, mac, ids, opts.out);
  if (res.reloaded) await new Promise((x) => setTimeout(x, 300));
  await asAdmin(r, stateDir, async (nc) => {
    await retryWhileReloading(() => provisionHub(nc, macsOf(stateDir)));
    await retryWhileReloading(() => syncIdentityRegistry(nc, stateDir));
  });
  const hub = opts.hubAddress ?? `nats-leaf://<hub tailnet name>:${r.config.broker?.leafPort ?? DEFAULT_HUB_LEAF_PORT}`;
  process.stdout.write(
    [
      `${res.existed ? "updated" : "added"} Mac ${res.mac} hosting ${res.identities.join(", ")}; the hub mirrors its outbox and sources it into the other identities' inboxes and EVENTS`,
      `leaf credential: ${res.credentialFile} (0600) — copy it to ${res.mac}, e.g. to ~/.config/openclaw-mesh/leaf.cred, with each identity's credential, then run there (once per identity):`,
      `  mesh init --identity ${res.identities[0]} --creds ~/.config/openclaw-mesh/${res.identities[0]}.nk --leaf --mac ${res.mac} --hub ${hub} --leaf-credential ~/.config/openclaw-mesh/leaf.cred --leaf-port ${DEFAULT_LEAF_CLIENT_PORT} --leaf-monitor-port ${DEFAULT_LEAF_MONITOR_PORT}`,
    ].join("\n") + "\n",
  );
}
