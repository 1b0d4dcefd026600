import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { copySecretFile, tightenSecretFile, writeSecretFile } from "../../base/files.js";
import { dirname, join } from "node:path";
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { newToken } from "../openclaw-config.js";

/**
 * The mesh identities as peers of the local gateway's A2A channel (channels.a2a.peers.<id>):
 *   token          what the sidecar presents when it hands the gateway a message from <id>
 *   url            this sidecar's endpoint for <id> (where the gateway sends `a2a:<id>` messages)
 *   outboundToken  what the gateway presents there; the sidecar checks it
 * Tokens are made here, kept in the sidecar's state directory (0600), and written into the
 * gateway's openclaw.json only when the set of peers changes: OpenClaw hot-reloads
 * channels.a2a (~0.2 s) and forgets the tasks it holds in memory when it does.
 */
const storeSchema = z.object({
  peers: z.record(z.string(), z.object({ inbound: z.string().min(16), outbound: z.string().min(16) })),
});
type Store = z.infer<typeof storeSchema>;

export interface PeerSyncResult {
  added: string[];
  removed: string[];
  /** True when the gateway's config file was rewritten (it then hot-reloads its A2A channel). */
  wrote: boolean;
  /** Files holding the tokens that were readable by other local users and are now 0600 ("<path> (was 644)"). */
  tightened: string[];
}

function sameToken(want: string, presented: string): boolean {
  const a = Buffer.from(want);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class A2APeerTable {
  private store: Store;
  private readonly storePath: string;
  private tightened: string[] = [];

  private widened(path: string, r: { widerBefore?: string }): void {
    if (r.widerBefore) this.tightened.push(`${path} (was ${r.widerBefore})`);
  }

  constructor(
    stateDir: string,
    private readonly gatewayConfigPath: string,
    /** This sidecar's loopback A2A endpoint base, e.g. http://127.0.0.1:9469 (set once it listens). */
    public endpointBase = "",
  ) {
    this.storePath = join(stateDir, "a2a-peers.json");
    this.store = existsSync(this.storePath) ? storeSchema.parse(JSON.parse(readFileSync(this.storePath, "utf8"))) : { peers: {} };
  }

  /** The URL the gateway posts `a2a:<id>` messages to. */
  urlFor(id: string): string {
    return `${this.endpointBase}/a2a/peers/${id}/v1`;
  }

  ids(): string[] {
    return Object.keys(this.store.peers).sort();
  }

  inboundToken(id: string): string | undefined {
    return this.store.peers[id]?.inbound;
  }

  /**
   * Who presented `presented` on `id`'s endpoint: "gateway" for the gateway's outboundToken of
   * that peer, a configured A2A client's name for its token (constant-time), else undefined.
   */
  callerOf(id: string, presented: string): string | undefined {
    const want = this.store.peers[id]?.outbound;
    if (!want) return undefined;
    if (sameToken(want, presented)) return "gateway";
    return this.clients.find((c) => sameToken(c.token, presented))?.name;
  }

  /** Other A2A clients allowed to send as this identity (config sidecar.a2aClients), by name. */
  clients: Array<{ name: string; token: string }> = [];

  /**
   * Makes the peers equal to `ids`: new ones get tokens, gone ones lose them, and the gateway's
   * channels.a2a.peers entries this sidecar manages (their url is this endpoint) follow. Entries
   * pointing elsewhere (peers the owner added by hand) are left alone.
   */
  sync(ids: readonly string[]): PeerSyncResult {
    const want = new Set(ids);
    const added = [...want].filter((id) => !this.store.peers[id]);
    const removed = Object.keys(this.store.peers).filter((id) => !want.has(id));
    for (const id of added) this.store.peers[id] = { inbound: newToken(), outbound: newToken() };
    for (const id of removed) delete this.store.peers[id];
    if (added.length || removed.length) this.save();
    this.tightened = [];
    const wrote = this.writeGatewayConfig();
    // Whether or not it wrote: a file holding the tokens never stays readable by other local users.
    if (!wrote) for (const f of [this.gatewayConfigPath, `${this.gatewayConfigPath}.mesh-backup`]) this.widened(f, tightenSecretFile(f));
    return { added, removed, wrote, tightened: this.tightened };
  }

  private save(): void {
    mkdirSync(dirname(this.storePath), { recursive: true, mode: 0o700 });
    const tmp = `${this.storePath}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.store, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.storePath);
  }

  /** Writes channels.a2a into openclaw.json when it differs; returns whether it wrote. */
  private writeGatewayConfig(): boolean {
    const path = this.gatewayConfigPath;
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`cannot update the gateway's A2A peers in ${path}: ${(err as Error).message.split("\n")[0]} (plain JSON expected)`);
    }
    const channels = { ...((cfg.channels as Record<string, unknown> | undefined) ?? {}) };
    const a2a = { ...((channels.a2a as Record<string, unknown> | undefined) ?? {}) };
    const current = { ...((a2a.peers as Record<string, { url?: string }> | undefined) ?? {}) };
    const mine = (p: { url?: string } | undefined): boolean => typeof p?.url === "string" && p.url.startsWith(`${this.endpointBase}/a2a/peers/`);
    const next: Record<string, unknown> = {};
    for (const [id, p] of Object.entries(current)) if (!mine(p)) next[id] = p;
    for (const [id, t] of Object.entries(this.store.peers)) next[id] = { token: t.inbound, url: this.urlFor(id), outboundToken: t.outbound };
    const nextA2a = { ...a2a, enabled: true, peers: next };
    if (JSON.stringify(nextA2a) === JSON.stringify(channels.a2a)) return false;
    const backup = `${path}.mesh-backup`;
    // The tokens make the file a secret: it and its backup are 0600 (tightened, with a warning, if wider).
    if (!existsSync(backup)) copySecretFile(path, backup);
    else this.widened(backup, tightenSecretFile(backup));
    // In place (same inode), so the gateway's file watcher sees the change and hot-reloads.
    this.widened(path, writeSecretFile(path, `${JSON.stringify({ ...cfg, channels: { ...channels, a2a: nextA2a } }, null, 2)}\n`));
    return true;
  }
}
