import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS, leafUserName } from "../subjects/names.js";
import { randomBytes } from "node:crypto";
import { leafPermissions } from "./leaf-permissions.js";
import { leafCredentialText } from "./leaf-server.js";
import { identity as checkIdentity, token } from "../subjects/identity.js";
import { MAX_CAPABILITIES } from "../subjects/jobs.js";
import { MeshError } from "../src/base/errors.js";
import { identityPermissions, type Grants } from "./permissions.js";
import { credentialText } from "./credentials.js";


/**
 * The authenticated broker: nkey users in the server config (works on nats-server 2.9+), one per
 * identity plus an admin, with least-privilege permissions. Adding or revoking an identity rewrites
 * auth.conf and reloads the running server (SIGHUP): no downtime, and a removed key is refused at once.
 *
 * State directory: identities.json (the registry), auth.conf (rendered), admin.nk, creds/<id>.nk,
 * tls/ (with --tls).
 */
export interface Registry {
  admin: string;
  identities: Record<string, { publicKey: string; addedAt: string } & Grants>;
  tls?: { cert: string; key: string; ca: string };
  /** Leaf mode: each Mac's leaf user password and the identities it hosts (`mesh broker add-mac`). */
  macs?: Record<string, { password: string; identities: string[]; addedAt: string }>;
}

export const paths = (stateDir: string) => ({
  registry: join(stateDir, "identities.json"),
  auth: join(stateDir, "auth.conf"),
  admin: join(stateDir, "admin.nk"),
  creds: join(stateDir, "creds"),
  tls: join(stateDir, "tls"),
  pid: join(stateDir, "nats-server.pid"),
});

function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function readRegistry(stateDir: string): Registry {
  const p = paths(stateDir).registry;
  if (!existsSync(p)) throw new MeshError(`this broker is not set up for authentication yet: run \`mesh broker init\` (state ${stateDir})`);
  return JSON.parse(readFileSync(p, "utf8")) as Registry;
}

function q(s: string): string {
  return JSON.stringify(s);
}

export function renderAuth(reg: Registry): string {
  const users = [
    `    { nkey: ${q(reg.admin)} }`,
    ...Object.entries(reg.identities).map(([id, { publicKey, ...grants }]) => {
      const p = identityPermissions(id, grants);
      return `    { nkey: ${q(publicKey)}, permissions: { publish: { allow: [${p.publish.allow.map(q).join(", ")}] }, subscribe: { allow: [${p.subscribe.allow.map(q).join(", ")}] } } }`;
    }),
  ];
  // Leaf users in the same users list (gotcha 5: users under leafnodes.authorization cannot carry
  // permissions on 2.9.10), with permissions from the leaf's point of view.
  for (const [mac, m] of Object.entries(reg.macs ?? {})) {
    const p = leafPermissions(mac, m.identities, (id) => {
      const { publicKey: _k, addedAt: _a, ...grants } = reg.identities[id] ?? { publicKey: "", addedAt: "" };
      return grants;
    }, Object.keys(reg.identities));
    users.push(
      `    { user: ${q(leafUserName(mac))}, password: ${q(m.password)}, permissions: { publish: { allow: [${p.publish.allow.map(q).join(", ")}] }, subscribe: { allow: [${p.subscribe.allow.map(q).join(", ")}] } } }`,
    );
  }
  const lines = ["# rendered by broker/auth.ts (mesh broker init / add-identity / revoke); do not edit", "authorization {", "  users: [", users.join("\n"), "  ]", "}"];
  if (reg.tls) lines.push("", "tls {", `  cert_file: ${q(reg.tls.cert)}`, `  key_file: ${q(reg.tls.key)}`, `  ca_file: ${q(reg.tls.ca)}`, "  timeout: 2", "}");
  return `${lines.join("\n")}\n`;
}

/** SIGHUP to the running broker of this state directory (nats-server reloads its config). */
export function reloadBroker(stateDir: string): boolean {
  const pidFile = paths(stateDir).pid;
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  try {
    process.kill(pid, "SIGHUP");
    return true;
  } catch {
    return false;
  }
}

function save(stateDir: string, reg: Registry): void {
  const p = paths(stateDir);
  writePrivate(p.registry, `${JSON.stringify(reg, null, 2)}\n`);
  writePrivate(p.auth, renderAuth(reg));
  // A broker started before `init` has a config without the include: add it, so the reload applies.
  const conf = join(stateDir, "nats-server.conf");
  if (existsSync(conf)) {
    const text = readFileSync(conf, "utf8");
    if (!text.includes(`include "auth.conf"`)) writeFileSync(conf, `${text.trimEnd()}\n\ninclude "auth.conf"\n`, { mode: 0o600 });
  }
}

function makeTls(dir: string, hosts: string[]): Registry["tls"] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca-key.pem");
  const cert = join(dir, "server.pem");
  const key = join(dir, "server-key.pem");
  const run = (args: string[]): void => {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.status !== 0) throw new MeshError(`openssl ${args[0]} failed: ${(r.stderr || "").trim().split("\n")[0]}`);
  };
  run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650", "-subj", "/CN=openclaw-mesh CA", "-keyout", caKey, "-out", ca]);
  const san = hosts.map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  const ext = join(dir, "san.ext");
  writeFileSync(ext, `subjectAltName=${san}\n`);
  run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=openclaw-mesh broker", "-keyout", key, "-out", join(dir, "server.csr")]);
  run(["x509", "-req", "-in", join(dir, "server.csr"), "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-days", "825", "-extfile", ext, "-out", cert]);
  for (const f of [caKey, key]) chmodSync(f, 0o600);
  return { cert, key, ca };
}

/** `mesh broker init`: an admin key and an empty registry; with tls, a CA and a server certificate. */
export function initAuth(
  stateDir: string,
  opts: { tls?: boolean; hosts?: string[] } = {},
): { created: boolean; /** Already set up, and the permissions were rendered anew (they had changed). */ updated?: boolean; adminCreds: string; reloaded: boolean; tls?: Registry["tls"] } {
  const p = paths(stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  if (existsSync(p.registry)) {
    const reg = readRegistry(stateDir);
    if (opts.tls && !reg.tls) {
      reg.tls = makeTls(p.tls, opts.hosts ?? ["127.0.0.1", "localhost"]);
      save(stateDir, reg);
      return { created: false, adminCreds: p.admin, reloaded: reloadBroker(stateDir), tls: reg.tls };
    }
    // Run again after an upgrade: the permissions are rendered anew from the registry (a release
    // may grant more, e.g. deleting from one's own inbox) and the broker reloads if they changed.
    const current = existsSync(p.auth) ? readFileSync(p.auth, "utf8") : "";
    if (current !== renderAuth(reg)) {
      save(stateDir, reg);
      return { created: false, updated: true, adminCreds: p.admin, reloaded: reloadBroker(stateDir), ...(reg.tls ? { tls: reg.tls } : {}) };
    }
    return { created: false, adminCreds: p.admin, reloaded: false, ...(reg.tls ? { tls: reg.tls } : {}) };
  }
  const admin = createUser();
  writePrivate(p.admin, `${new TextDecoder().decode(admin.getSeed())}\n`);
  const reg: Registry = { admin: admin.getPublicKey(), identities: {} };
  if (opts.tls) reg.tls = makeTls(p.tls, opts.hosts ?? ["127.0.0.1", "localhost"]);
  save(stateDir, reg);
  return { created: true, adminCreds: p.admin, reloaded: reloadBroker(stateDir), ...(reg.tls ? { tls: reg.tls } : {}) };
}

/**
 * Makes the mesh-identities bucket (what sidecars verify senders against) equal to the registry:
 * every registered identity's public key, no revoked ones. Needs an admin connection; idempotent.
 * Run after add-identity, revoke, and whenever the broker starts (files edited while it was down).
 */
export async function syncIdentityRegistry(nc: NatsConnection, stateDir: string): Promise<{ put: string[]; removed: string[] }> {
  const reg = readRegistry(stateDir);
  const kv = await new Kvm(nc).open(BUCKETS.identities);
  const put: string[] = [];
  const removed: string[] = [];
  for (const [id, { publicKey, addedAt, ...grants }] of Object.entries(reg.identities)) {
    // The key, and what the admin granted for jobs: readers refuse a run by a worker not granted it.
    const { capabilities, queues } = normalGrants(grants);
    const want = JSON.stringify({ publicKey, addedAt, capabilities, queues });
    const cur = await kv.get(id);
    if (cur && cur.operation === "PUT" && cur.string() === want) continue;
    await kv.put(id, want);
    put.push(id);
  }
  for await (const id of await kv.keys()) {
    if (!reg.identities[id]) {
      await kv.delete(id);
      removed.push(id);
    }
  }
  return { put, removed };
}

/** `mesh broker add-identity`: a new nkey user for the identity; writes its seed file (0600). */
export function addIdentity(
  stateDir: string,
  rawId: string,
  out?: string,
  grants?: Grants,
): { id: string; publicKey: string; seedFile: string; reloaded: boolean; existed: boolean } {
  const id = checkIdentity(rawId);
  const reg = readRegistry(stateDir);
  const seedFile = out ?? join(paths(stateDir).creds, `${id}.nk`);
  const existing = reg.identities[id];
  const granted = normalGrants(grants ?? {});
  if (existing && existsSync(seedFile)) {
    // Same key; grants given again replace the old ones (and the broker reloads the permissions).
    if (!grants || JSON.stringify(normalGrants(existing)) === JSON.stringify(granted)) {
      return { id, publicKey: existing.publicKey, seedFile, reloaded: false, existed: true };
    }
    reg.identities[id] = { publicKey: existing.publicKey, addedAt: existing.addedAt, ...granted };
    save(stateDir, reg);
    return { id, publicKey: existing.publicKey, seedFile, reloaded: reloadBroker(stateDir), existed: true };
  }
  const kp = createUser();
  mkdirSync(paths(stateDir).creds, { recursive: true, mode: 0o700 });
  writePrivate(seedFile, credentialText(id, new TextDecoder().decode(kp.getSeed())));
  reg.identities[id] = { publicKey: kp.getPublicKey(), addedAt: new Date().toISOString(), ...granted };
  save(stateDir, reg);
  return { id, publicKey: kp.getPublicKey(), seedFile, reloaded: reloadBroker(stateDir), existed: false };
}

function normalGrants(g: Grants): Grants {
  const caps = [...new Set((g.capabilities ?? []).map((c) => token(c, "capability")))].sort();
  if (caps.length > MAX_CAPABILITIES) throw new MeshError(`at most ${MAX_CAPABILITIES} capabilities per identity (got ${caps.length})`);
  const queues = [...new Set((g.queues ?? ["default"]).map((q) => token(q, "queue")))].sort();
  return { capabilities: caps, queues, alerts: Boolean(g.alerts), ...(g.hooks === false ? { hooks: false } : {}) };
}

/**
 * `mesh broker add-mac`: a leaf user for a Mac, allowed to carry only the traffic of the identities
 * it hosts (registered identities); writes its leaf credential (0600). Again with other identities:
 * the same password, the new list.
 */
export function addMac(
  stateDir: string,
  rawMac: string,
  rawIds: readonly string[],
  out?: string,
): { mac: string; identities: string[]; credentialFile: string; reloaded: boolean; existed: boolean } {
  const mac = checkIdentity(rawMac, "Mac name");
  const ids = [...new Set(rawIds.map((i) => checkIdentity(i)))].sort();
  if (ids.length === 0) throw new MeshError(`Mac ${mac} needs at least one identity (--identities <name>[,<name>…])`);
  const reg = readRegistry(stateDir);
  for (const id of ids) if (!reg.identities[id]) throw new MeshError(`${id} is not a registered identity: run \`mesh broker add-identity ${id}\` first`);
  for (const [other, m] of Object.entries(reg.macs ?? {})) {
    const both = m.identities.filter((i) => other !== mac && ids.includes(i));
    if (both.length) throw new MeshError(`${both.join(", ")} already live${both.length === 1 ? "s" : ""} on Mac ${other}: an identity is hosted on one Mac`);
  }
  reg.macs ??= {};
  const existing = reg.macs[mac];
  const password = existing?.password ?? randomBytes(24).toString("base64url");
  reg.macs[mac] = { password, identities: ids, addedAt: existing?.addedAt ?? new Date().toISOString() };
  const credentialFile = out ?? join(paths(stateDir).creds, `${leafUserName(mac)}.leaf`);
  mkdirSync(paths(stateDir).creds, { recursive: true, mode: 0o700 });
  writePrivate(credentialFile, leafCredentialText({ mac, user: leafUserName(mac), password }));
  save(stateDir, reg);
  return { mac, identities: ids, credentialFile, reloaded: reloadBroker(stateDir), existed: existing !== undefined };
}

/** Every Mac and the identities it hosts (the hub's layout, broker/leaf-provision.ts). */
export function macsOf(stateDir: string): Record<string, string[]> {
  return Object.fromEntries(Object.entries(readRegistry(stateDir).macs ?? {}).map(([m, v]) => [m, v.identities]));
}

/** `mesh broker revoke`: removes the identity's key; the reload disconnects it at once. */
export function revokeIdentity(stateDir: string, rawId: string): { id: string; reloaded: boolean } {
  const id = checkIdentity(rawId);
  const reg = readRegistry(stateDir);
  if (!reg.identities[id]) throw new MeshError(`${id} is not a registered identity`);
  delete reg.identities[id];
  save(stateDir, reg);
  return { id, reloaded: reloadBroker(stateDir) };
}

/** The config line that makes nats-server use auth.conf (when `mesh broker init` ran). */
export function authInclude(stateDir: string): string | undefined {
  return existsSync(paths(stateDir).auth) ? `include "auth.conf"` : undefined;
}
