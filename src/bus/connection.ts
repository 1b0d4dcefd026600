import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from "@nats-io/nats-core";
import { signerFromSeed, type Signer } from "../../subjects/signing.js";
import { clientInboxPrefix } from "../../subjects/names.js";
import { parseCredential } from "../../broker/credentials.js";
import { BrokerUnreachableError, CredentialsRefusedError, MeshError } from "../base/errors.js";
import { firstLine, isAuthorizationError } from "../base/nats-errors.js";
import { assertPrivateFile } from "../base/files.js";
import { setHubDomain } from "./domain.js";

export interface ConnectOptions {
  server: string;
  creds?: string;
  name?: string;
  /** Keep reconnecting forever (sidecars) instead of failing fast (CLI). */
  persistent?: boolean;
  timeoutMs?: number;
  /** This identity: with per-identity credentials, replies come on its own _INBOX_<id> prefix. */
  identity?: string;
  /** What a natscli context adds (an nkey seed file, user/password, token, TLS files, inbox prefix). */
  auth?: ConnectAuth;
  /** Leaf mode: the server is this Mac's leaf, and what lives on the hub is reached in this domain. */
  hubDomain?: string;
}

export interface ConnectAuth {
  nkeyFile?: string;
  user?: string;
  pass?: string;
  token?: string;
  tls?: { certFile?: string; keyFile?: string; caFile?: string; handshakeFirst?: boolean };
  inboxPrefix?: string;
}

/** The signer of a connection made with an nkey seed: envelopes published on it are signed. */
const signers = new WeakMap<NatsConnection, Signer>();
export function signerOf(nc: NatsConnection): Signer | undefined {
  return signers.get(nc);
}

/** Splits user:password out of a URL (nats://user:pass@host:4222) so servers get a clean URL. */
export function parseServers(raw: string): { servers: string[]; user?: string; pass?: string } {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const withScheme = /^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`;
      let url: URL;
      try {
        url = new URL(withScheme);
      } catch {
        throw new MeshError(`invalid server URL ${JSON.stringify(s)} (expected nats://host:4222)`);
      }
      if (url.username) {
        user = decodeURIComponent(url.username);
        pass = decodeURIComponent(url.password);
      }
      return `${url.protocol}//${url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname}:${url.port || "4222"}`;
    });
  if (servers.length === 0) throw new MeshError("no server given (use --server nats://host:4222)");
  return { servers, ...(user !== undefined ? { user } : {}), ...(pass !== undefined ? { pass } : {}) };
}

export async function connectMesh(o: ConnectOptions): Promise<NatsConnection> {
  const { servers, user, pass } = parseServers(o.server);
  const opts: ConnectionOptions = {
    servers,
    name: o.name ?? "mesh",
    timeout: o.timeoutMs ?? 3000,
  };
  if (user !== undefined) {
    opts.user = user;
    opts.pass = pass ?? "";
  }
  let signer: Signer | undefined;
  if (o.creds) {
    assertPrivateFile(o.creds);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(o.creds);
    } catch {
      throw new MeshError(`cannot read credentials file ${o.creds}`);
    }
    const cred = parseCredential(new TextDecoder().decode(bytes));
    if (cred) {
      // An nkey seed (mesh broker add-identity): authenticate with it and sign envelopes with it.
      if (cred.identity && o.identity && cred.identity !== o.identity) {
        throw new MeshError(
          `credentials ${o.creds} belong to ${cred.identity}, but this runs as ${o.identity}: pass --identity ${cred.identity} (or set identity in the config)`,
        );
      }
      opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(cred.seed));
      signer = signerFromSeed(cred.seed);
      // Replies to this connection's requests come on its own prefix (the only _INBOX_ it may read).
      const id = cred.identity ?? o.identity;
      if (id) opts.inboxPrefix = clientInboxPrefix(id);
    } else {
      opts.authenticator = credsAuthenticator(bytes);
      if (o.identity) opts.inboxPrefix = clientInboxPrefix(o.identity);
    }
  }
  const a = o.auth;
  if (a?.user !== undefined) {
    opts.user = a.user;
    opts.pass = a.pass ?? "";
  }
  if (a?.token !== undefined) opts.token = a.token;
  if (a?.nkeyFile && !o.creds) {
    // A seed file (natscli `nkey`): authenticate with it; a mesh identity's seed also signs.
    assertPrivateFile(a.nkeyFile);
    let text: string;
    try {
      text = readFileSync(a.nkeyFile, "utf8");
    } catch {
      throw new MeshError(`cannot read nkey file ${a.nkeyFile}`);
    }
    const cred = parseCredential(text);
    if (!cred) throw new MeshError(`${a.nkeyFile} holds no nkey seed`);
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(cred.seed));
    signer = signerFromSeed(cred.seed);
    const id = cred.identity ?? o.identity;
    if (id) opts.inboxPrefix = clientInboxPrefix(id);
  }
  if (a?.inboxPrefix !== undefined && opts.inboxPrefix === undefined) opts.inboxPrefix = a.inboxPrefix;
  // Leaf mode with no credential (an open mesh): the hub answers through the Mac's leaf link only on
  // its identities' own prefixes (broker/leaf-permissions.ts), so an identity's requests use its own.
  if (o.hubDomain && o.identity && opts.inboxPrefix === undefined) opts.inboxPrefix = clientInboxPrefix(o.identity);
  if (a?.tls) opts.tls = { ...a.tls };
  if (process.env.MESH_TLS_CA) opts.tls = { ...(opts.tls ?? {}), caFile: process.env.MESH_TLS_CA };
  if (o.persistent) {
    opts.maxReconnectAttempts = -1;
    opts.reconnectTimeWait = 500;
    opts.waitOnFirstConnect = true;
    opts.pingInterval = 10_000;
  } else {
    opts.maxReconnectAttempts = 0;
  }
  try {
    const nc = await connect(opts);
    if (signer) signers.set(nc, signer);
    if (o.hubDomain) setHubDomain(nc, o.hubDomain);
    return nc;
  } catch (err) {
    const msg = firstLine(err);
    if (isAuthorizationError(err)) {
      throw new CredentialsRefusedError(`broker at ${servers.join(",")} refused the credentials: ${msg}`);
    }
    throw new BrokerUnreachableError(
      `cannot reach the broker at ${servers.join(",")} (${msg}); start one with \`mesh up\` or pass --server`,
    );
  }
}
