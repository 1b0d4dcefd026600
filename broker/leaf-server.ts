import { LEAF_DENIED } from "../subjects/subjects.js";
import { HUB_DOMAIN, leafDomain, leafUserName } from "../subjects/names.js";
import { identity } from "../subjects/identity.js";
import { MeshError } from "../src/base/errors.js";
import type { ServerConfigOptions } from "./server-config.js";

/**
 * The servers of leaf mode (README "Offline-first Macs"): the hub's leafnode listener and each Mac's
 * leaf server, with its link to the hub. Checked on nats-server 2.9.10 (../shared/notes/offline-first.md).
 */
export const DEFAULT_HUB_LEAF_PORT = 7422;
/** A Mac's leaf server: clients on 127.0.0.1:4223 (4222 stays free for a hub on the same Mac). */
export const DEFAULT_LEAF_CLIENT_PORT = 4223;
export const DEFAULT_LEAF_MONITOR_PORT = 8223;
/** Gotcha 9: a silently dropped link is found after ping_max unanswered pings (about 6 s), not minutes. */
export const LEAF_PING = { intervalSec: 2, max: 2 } as const;

/** The hub's leaf settings: domain `hub`, a leafnode listener, the address it tells leaves (gotcha 1). */
export function hubLeafOptions(o: { host: string; port: number; advertise?: string }): Pick<ServerConfigOptions, "jetstreamDomain" | "leafListen" | "ping"> {
  return { jetstreamDomain: HUB_DOMAIN, leafListen: { host: o.host, port: o.port, ...(o.advertise ? { advertise: o.advertise } : {}) }, ping: LEAF_PING };
}

/** A Mac's leaf settings: domain mac-<name>, a link to the hub denying the application subjects both ways (gotcha 2). */
export function macLeafOptions(o: { mac: string; hub: string; credential: LeafCredential }): Pick<ServerConfigOptions, "jetstreamDomain" | "leafRemote" | "ping"> {
  if (o.credential.mac !== o.mac) throw new MeshError(`the leaf credential is for Mac ${o.credential.mac}, not ${o.mac}`);
  return { jetstreamDomain: leafDomain(o.mac), leafRemote: { url: hubLinkUrl(o.hub, o.credential), deny: LEAF_DENIED }, ping: LEAF_PING };
}

/** The leaf link URL with the Mac's leaf user in it (the rendered config is 0600). */
export function hubLinkUrl(hub: string, c: LeafCredential): string {
  let url: URL;
  try {
    url = new URL(/^[a-z-]+:\/\//i.test(hub) ? hub : `nats-leaf://${hub}`);
  } catch {
    throw new MeshError(`--hub ${JSON.stringify(hub).slice(0, 60)} is not an address (e.g. nats-leaf://100.101.102.103:${DEFAULT_HUB_LEAF_PORT})`);
  }
  const host = url.hostname.includes(":") && !url.hostname.startsWith("[") ? `[${url.hostname}]` : url.hostname;
  return `nats-leaf://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@${host}:${url.port || DEFAULT_HUB_LEAF_PORT}`;
}

/** What the admin gives a Mac (`mesh broker add-mac`): the leaf user and its password. */
export interface LeafCredential {
  mac: string;
  user: string;
  password: string;
}

export function leafCredentialText(c: LeafCredential): string {
  return `# openclaw-mesh leaf credential of Mac ${c.mac} (keep it private, 0600)\n${c.user}:${c.password}\n`;
}

export function parseLeafCredential(text: string): LeafCredential | undefined {
  const mac = /^#.*leaf credential of Mac ([a-z0-9-]+)/m.exec(text)?.[1];
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l && !l.startsWith("#"));
  const m = line ? /^([a-z0-9-]+):([A-Za-z0-9_-]{16,})$/.exec(line) : null;
  if (!mac || !m || m[1] !== leafUserName(identity(mac, "Mac name"))) return undefined;
  return { mac, user: m[1], password: m[2]! };
}
