import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { createCurve } from "@nats-io/nkeys";
import { CurveKey } from "../../subjects/sealed.js";
import { z } from "zod";
import { BUCKETS } from "../../subjects/names.js";
import { assertPrivateFile, writeSecretFile } from "../base/files.js";
import { hubKvm } from "./domain.js";
import { signerOf } from "./connection.js";
import { SealingError, setSealer, type Sealer } from "./sealer.js";
import { safeJson } from "../base/json.js";
import type { MeshVerifier } from "./verify.js";
import type { Logger } from "../base/log.js";
import { isNotFound } from "../base/nats-errors.js";

/** The keyring's file in an identity's state directory (the sidecar's). */
export const SEALING_KEYS_FILE = "xkeys.json";

/**
 * Sealed bodies on a secure mesh (README "Sealed bodies"): each identity's curve keys, made on its
 * own Mac and never sent anywhere (`<stateDir>/xkeys.json`, 0600; the newest seals, every one
 * opens), its public key published in `mesh-xkeys` signed with its nkey, and the connection's
 * sealer that publish.ts seals with and the receivers open with.
 */
const keyringSchema = z.object({
  v: z.literal(1),
  keys: z.array(z.object({ seed: z.string().startsWith("SX"), at: z.string() }).strict()).min(1),
});

/** The curve keys of one identity on this Mac: the newest seals and is published; all of them open. */
export class Keyring {
  private constructor(
    readonly path: string,
    private readonly pairs: CurveKey[],
  ) {}

  /** Reads the keyring at `path`, making one (a new curve key) when there is none. */
  static loadOrCreate(path: string): Keyring {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      const kp = createCurve();
      writeSecretFile(path, `${JSON.stringify({ v: 1, keys: [{ seed: new TextDecoder().decode(kp.getSeed()), at: new Date().toISOString() }] }, null, 2)}\n`);
    }
    assertPrivateFile(path);
    const parsed = keyringSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
    if (!parsed.success) throw new Error(`${path} is not a mesh keyring (v1): ${parsed.error.issues[0]?.message ?? "invalid"}`);
    return new Keyring(path, parsed.data.keys.map((k) => new CurveKey(k.seed)));
  }

  /** A new curve key, newest from now on; the old ones stay to open what was sealed to them. */
  static rotate(path: string): Keyring {
    Keyring.loadOrCreate(path);
    const raw = keyringSchema.parse(JSON.parse(readFileSync(path, "utf8")));
    const kp = createCurve();
    raw.keys.push({ seed: new TextDecoder().decode(kp.getSeed()), at: new Date().toISOString() });
    writeSecretFile(path, `${JSON.stringify(raw, null, 2)}\n`);
    return Keyring.loadOrCreate(path);
  }

  /** A keyring of one key held in memory only (a CLI with no keyring of its identity on this Mac). */
  static ephemeral(): Keyring {
    return new Keyring("", [new CurveKey(new TextDecoder().decode(createCurve().getSeed()))]);
  }

  /** The key that seals (and is published). */
  get current(): CurveKey {
    return this.pairs[this.pairs.length - 1]!;
  }

  get publicKey(): string {
    return this.current.publicKey;
  }

  get size(): number {
    return this.pairs.length;
  }

  /** The key pair with this public key, if this keyring holds it. */
  byPublic(xkey: string): CurveKey | undefined {
    return this.pairs.find((p) => p.publicKey === xkey);
  }
}

/** An identity's published sealing key: `{v, id, xkey, at, sig}`, signed with its nkey. */
const announcementSchema = z.object({ v: z.literal(1), id: z.string(), xkey: z.string().regex(/^X[A-Z2-7]{55}$/), at: z.string(), sig: z.string() }).strict();
type Announcement = z.infer<typeof announcementSchema>;

const CACHE_MS = 30_000;

/**
 * Publishes this identity's sealing key (when the published one differs) and seals and opens on
 * `nc` from now on. Secure mesh only (a connection with an nkey); an open mesh stays clear.
 */
export async function startSealing(
  nc: NatsConnection,
  self: string,
  keyringPath: string,
  verifier: MeshVerifier,
  log?: Logger,
  o: { publish?: boolean; create?: boolean } = {},
): Promise<Sealer | undefined> {
  const signer = signerOf(nc);
  if (!signer) return undefined;
  if (o.create === false && !existsSync(keyringPath)) return startWithoutKeyring(nc, self, verifier);
  const keyring = Keyring.loadOrCreate(keyringPath);
  const read: KV = await new Kvm(nc).open(BUCKETS.xkeys);
  const published = await probe(read, self);
  if (published === "missing") {
    // A broker provisioned before sealed bodies: everything goes clear, as before, until
    // `mesh broker init` (or provision) adds the bucket.
    log?.warn(`sealed bodies off: the broker has no ${BUCKETS.xkeys} bucket (run mesh broker init to add it)`);
    return undefined;
  }
  if (o.publish !== false) {
    const mine = published?.operation === "PUT" ? announcementSchema.safeParse(safeJson(published.string())) : undefined;
    // Published again when it is not this keyring's newest key, or not signed by this identity's
    // current nkey (the admin reissued its credential): senders would refuse it.
    const current = mine?.success && mine.data.xkey === keyring.publicKey && (await verifier.verifyRecord(mine.data, self)).ok;
    if (!current) {
      const record: Announcement = signer.signRecord({ v: 1, id: self, xkey: keyring.publicKey, at: new Date().toISOString(), sig: "" });
      await (await hubKvm(nc).open(BUCKETS.xkeys)).put(self, JSON.stringify(record));
      log?.info({ xkey: keyring.publicKey }, "sealing key published");
    }
  }
  return install(nc, self, keyring, read, verifier);
}

/**
 * A CLI on a Mac without this identity's keyring (its sidecar runs elsewhere): it seals what it
 * sends with a one-off curve key, for the recipient alone, and cannot open what is sealed to it.
 */
async function startWithoutKeyring(nc: NatsConnection, self: string, verifier: MeshVerifier): Promise<Sealer | undefined> {
  const read: KV = await new Kvm(nc).open(BUCKETS.xkeys);
  if ((await probe(read, self)) === "missing") return undefined;
  return install(nc, self, Keyring.ephemeral(), read, verifier, false);
}

/** This identity's published entry, or "missing" when the bucket does not exist (Kvm.open does not check). */
async function probe(read: KV, self: string): Promise<KvEntry | null | "missing"> {
  try {
    return await read.get(self);
  } catch (err) {
    if (isNotFound(err)) return "missing";
    throw err;
  }
}

function install(nc: NatsConnection, self: string, keyring: Keyring, read: KV, verifier: MeshVerifier, selfReads = true): Sealer {
  const cache = new Map<string, { xkey: string | undefined; at: number }>();
  const sealer: Sealer = {
    self,
    keyring,
    selfReads,
    keyOf: async (id) => {
      const hit = cache.get(id);
      if (hit && Date.now() - hit.at < CACHE_MS) return hit.xkey;
      const e = await read.get(id);
      let xkey: string | undefined;
      if (e?.operation === "PUT") {
        const a = announcementSchema.safeParse(safeJson(e.string()));
        if (!a.success || a.data.id !== id) throw new SealingError(`the sealing key published for ${id} is malformed`);
        const v = await verifier.verifyRecord(a.data, id);
        if (!v.ok) throw new SealingError(`the sealing key published for ${id} is not signed by ${id}: ${v.reason}`);
        xkey = a.data.xkey;
      }
      cache.set(id, { xkey, at: Date.now() });
      return xkey;
    },
  };
  setSealer(nc, sealer);
  return sealer;
}

/** The sealing key `id` published (mesh-xkeys), unverified: for display (`mesh keys show`). */
export async function publishedKey(nc: NatsConnection, id: string): Promise<string | undefined> {
  const read = await new Kvm(nc).open(BUCKETS.xkeys);
  const e = await probe(read, id);
  if (e === "missing" || e?.operation !== "PUT") return undefined;
  const a = announcementSchema.safeParse(safeJson(e.string()));
  return a.success ? a.data.xkey : undefined;
}
