import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ConfigError } from "../base/errors.js";
import { expandHome } from "../base/files.js";
import type { ConnectAuth } from "../bus/connection.js";

/**
 * natscli contexts (`nats context add/select`), so `nats` and `mesh` share one way to reach the broker:
 * `<config>/nats/context/<name>.json` ($XDG_CONFIG_HOME, or ~/.config), the selected one named in
 * `<config>/nats/context.txt`. Only the connection fields are read; the others natscli keeps there
 * (JetStream domain, SOCKS proxy, colour scheme, …) are ignored. natscli writes "" for unset fields.
 */
const field = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v));

const natsContextSchema = z
  .object({
    description: field,
    url: field,
    creds: field,
    nkey: field,
    user: field,
    password: field,
    token: field,
    cert: field,
    key: field,
    ca: field,
    tls_first: z.boolean().optional(),
    inbox_prefix: field,
  })
  .passthrough();

/** What a context adds to a connection besides its URL and credentials file: what connectMesh takes. */
export type ContextAuth = ConnectAuth;

export interface NatsContext {
  name: string;
  path: string;
  url?: string;
  creds?: string;
  auth: ContextAuth;
}

export function natsConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), ".config"), "nats");
}

/** The context natscli selected (`nats context select`), if any. */
export function selectedContextName(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = join(natsConfigDir(env), "context.txt");
  if (!existsSync(file)) return undefined;
  const name = readFileSync(file, "utf8").trim();
  return name || undefined;
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,100}$/;

export function loadNatsContext(name: string, env: NodeJS.ProcessEnv = process.env): NatsContext {
  if (!NAME_RE.test(name) || name.startsWith(".")) throw new ConfigError(`invalid nats context name ${JSON.stringify(name)}`);
  const path = join(natsConfigDir(env), "context", `${name}.json`);
  if (!existsSync(path)) throw new ConfigError(`no nats context ${name} (${path}); list them with \`nats context ls\`, or make one with \`mesh init --nats-context ${name}\``);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(`nats context ${name} (${path}) is not JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  const c = natsContextSchema.safeParse(raw);
  if (!c.success) throw new ConfigError(`nats context ${name} (${path}): ${c.error.issues[0]?.path.join(".") ?? ""} ${c.error.issues[0]?.message ?? "invalid"}`);
  const v = c.data;
  const file = (p: string | undefined): string | undefined => (p === undefined ? undefined : expandHome(p));
  const tls = v.cert || v.key || v.ca || v.tls_first ? { ...(v.cert ? { certFile: file(v.cert)! } : {}), ...(v.key ? { keyFile: file(v.key)! } : {}), ...(v.ca ? { caFile: file(v.ca)! } : {}), ...(v.tls_first ? { handshakeFirst: true } : {}) } : undefined;
  return {
    name,
    path,
    ...(v.url ? { url: v.url } : {}),
    ...(v.creds ? { creds: file(v.creds)! } : {}),
    auth: {
      ...(v.nkey ? { nkeyFile: file(v.nkey)! } : {}),
      ...(v.user ? { user: v.user, pass: v.password ?? "" } : {}),
      ...(v.token ? { token: v.token } : {}),
      ...(tls ? { tls } : {}),
      ...(v.inbox_prefix ? { inboxPrefix: v.inbox_prefix } : {}),
    },
  };
}

/** Writes a natscli context (0600: it names a credential); natscli's own field names. */
export function writeNatsContext(name: string, c: { url: string; creds?: string; description: string }, env: NodeJS.ProcessEnv = process.env): string {
  if (!NAME_RE.test(name) || name.startsWith(".")) throw new ConfigError(`invalid nats context name ${JSON.stringify(name)}`);
  const dir = join(natsConfigDir(env), "context");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify({ description: c.description, url: c.url, creds: c.creds ?? "" }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
