/**
 * A secure mesh on a real nats-server started by the real CLI (`mesh broker up/init/add-identity`),
 * and the helpers attacker-side tests use to observe the server's own refusals.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectMesh } from "../../src/bus/connection.js";
import { parseCredential } from "../../broker/credentials.js";
import { signerFromSeed, type Signer } from "../../subjects/mod.js";
import { mesh } from "./cli.js";
import { freePort } from "./ports.js";

export interface SecureMesh {
  home: string;
  server: string;
  env: Record<string, string>;
  state: string;
  admin: NatsConnection;
  creds(id: string): string;
  /** A connection as `id` with its own credential. */
  as(id: string): Promise<NatsConnection>;
  /** The signer of `id` (what an attacker holding that credential can sign with). */
  signer(id: string): Signer;
  stop(): Promise<void>;
}

export async function startSecureMesh(identities: Array<string | { id: string; args: string[] }>): Promise<SecureMesh> {
  const home = mkdtempSync(join(tmpdir(), "mesh-secure-"));
  const port = await freePort();
  const server = `nats://127.0.0.1:${port}`;
  const env = { MESH_HOME: home, MESH_SERVER: server };
  const state = join(home, "broker");
  const up = await mesh(["broker", "up", "--port", String(port), "--monitor-port", String(await freePort()), "--detach"], { env });
  if (up.code !== 0) throw new Error(`broker up failed: ${up.stderr}`);
  const init = await mesh(["broker", "init"], { env });
  if (init.code !== 0) throw new Error(`broker init failed: ${init.stderr}`);
  for (const i of identities) {
    const { id, args } = typeof i === "string" ? { id: i, args: [] } : i;
    const r = await mesh(["broker", "add-identity", id, ...args], { env });
    if (r.code !== 0) throw new Error(`add-identity ${id} failed: ${r.stderr}`);
  }
  const creds = (id: string): string => join(state, "creds", `${id}.nk`);
  const admin = await connectMesh({ server, creds: join(state, "admin.nk") });
  const open: NatsConnection[] = [admin];
  return {
    home,
    server,
    env,
    state,
    admin,
    creds,
    async as(id) {
      const nc = await connectMesh({ server, creds: creds(id), identity: id });
      open.push(nc);
      return nc;
    },
    signer: (id) => signerFromSeed(parseCredential(readFileSync(creds(id), "utf8"))!.seed),
    async stop() {
      for (const nc of open) await nc.close().catch(() => undefined);
      try {
        process.kill(Number(readFileSync(join(state, "nats-server.pid"), "utf8")), "SIGTERM");
      } catch {
        /* gone */
      }
    },
  };
}

/**
 * The server's own permission error for an action on this connection: thrown by the action (a
 * request is rejected with it) or reported asynchronously on the connection's status stream. No
 * answer within 3 s is a failure, never a denial.
 */
export async function violation(nc: NatsConnection, action: () => unknown): Promise<string> {
  const seen = (async () => {
    for await (const s of nc.status()) if (s.type === "error") return String((s.error as Error).message);
    return "";
  })();
  try {
    await action();
  } catch (err) {
    return (err as Error).message;
  }
  return Promise.race([
    seen,
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error("no permission error from the server within 3 s")), 3000)),
  ]);
}

/** The server's Permissions Violation text for a publish (a JetStream API call is a publish to its subject). */
export const deniedPublish = (subject: string): RegExp =>
  new RegExp(`^Permissions Violation for Publish to "${subject.replace(/[.$*+?^(){}|[\]\\]/g, "\\$&")}"`);

/** Every message a stream still stores, as the raw bytes the broker keeps (read with `admin`, as whoever runs or backs up the broker's Mac can). */
export async function storedBytes(admin: NatsConnection, stream: string): Promise<string> {
  const jsm = await jetstreamManager(admin);
  const info = await jsm.streams.info(stream);
  const out: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (msg) out.push(new TextDecoder().decode(msg.data));
  }
  return out.join("\n");
}
