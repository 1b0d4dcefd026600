import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { fromCurveSeed } from "@nats-io/nkeys";
import nacl from "tweetnacl";
import { base32Decode } from "./ed25519.js";

/**
 * Sealed bodies (README "Sealed bodies"): the body of a message, ask or reply readable only by its
 * sender and its recipient. The body (JSON) is encrypted once with a random 256-bit content key
 * (AES-256-GCM, the envelope id as additional data), and the content key is sealed to each reader's
 * curve key as nkeys xkeys do (X25519 + XSalsa20-Poly1305, which also authenticates the sealing
 * key; the same "xkv1" bytes `KeyPair.seal` writes and `KeyPair.open` reads). The sender's curve key
 * travels in `x`; the envelope's ed25519 signature covers all of it, so `x` is the sender's.
 * Routing fields (from, to, kind, ids, context, hops) stay clear.
 *
 * Written on tweetnacl's box.before/after rather than KeyPair.seal/open, which redo the X25519
 * multiplication on every call (and getPublicKey() once more): the shared key of a sender and a
 * reader is computed once and kept, so sealing costs an AES-GCM pass and a 32-byte box per reader.
 */
export const SEALED_VERSION = 1 as const;

export interface SealedBody {
  v: typeof SEALED_VERSION;
  /** The sender's curve public key (X…), what each reader opens its content key with. */
  x: string;
  /** AES-256-GCM nonce and ciphertext with its 16-byte tag appended (base64url). */
  iv: string;
  ct: string;
  /** Per reader (identity): the curve public key it was sealed to, and the sealed content key (base64url). */
  k: Record<string, { to: string; key: string }>;
}

/** Readers a body may be sealed to: its recipient and its sender (so the sender's history stays readable). */
export const MAX_SEALED_READERS = 4;

const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64url");
const unb64 = (s: string): Buffer => Buffer.from(s, "base64url");

/** The raw 32 bytes of a curve public key "X…" (prefix byte, key, CRC-16: checked by the schema and nkeys where it came from). */
function rawPublic(xkey: string): Uint8Array {
  const raw = base32Decode(xkey);
  if (raw.length !== 35 || raw[0] !== 23 << 3) throw new Error(`not a curve public key: ${xkey.slice(0, 12)}…`);
  return raw.subarray(1, 33);
}

/** A curve key pair this side holds: its public key once, its secret kept for box.before. */
export class CurveKey {
  readonly publicKey: string;
  private readonly secret: Uint8Array;
  private readonly shared = new Map<string, Uint8Array>();

  /** From a curve seed "SX…" (validated by nkeys). */
  constructor(seed: string) {
    const kp = fromCurveSeed(new TextEncoder().encode(seed));
    this.publicKey = kp.getPublicKey();
    // Seed: two prefix bytes, the 32-byte secret, CRC-16.
    this.secret = base32Decode(seed).subarray(2, 34);
  }

  /** The box key this key shares with `other` (X25519 + HSalsa20), computed once per peer. */
  sharedWith(other: string): Uint8Array {
    let k = this.shared.get(other);
    if (!k) {
      k = nacl.box.before(rawPublic(other), this.secret);
      if (this.shared.size >= 4096) this.shared.clear();
      this.shared.set(other, k);
    }
    return k;
  }
}

const XKV1 = Uint8Array.from([120, 107, 118, 49]);
const NONCE = 24;

/** nkeys' xkey seal: "xkv1" + nonce + box(message) (what `KeyPair.seal` writes). */
export function xkeySeal(message: Uint8Array, to: string, from: CurveKey): Uint8Array {
  const nonce = randomBytes(NONCE);
  const boxed = nacl.box.after(message, nonce, from.sharedWith(to));
  return Buffer.concat([XKV1, nonce, boxed]);
}

/** nkeys' xkey open (what `KeyPair.open` reads); null when it does not open. */
export function xkeyOpen(sealed: Uint8Array, sender: string, mine: CurveKey): Uint8Array | null {
  if (sealed.length <= XKV1.length + NONCE || XKV1.some((b, i) => sealed[i] !== b)) return null;
  const nonce = sealed.subarray(XKV1.length, XKV1.length + NONCE);
  return nacl.box.open.after(sealed.subarray(XKV1.length + NONCE), nonce, mine.sharedWith(sender));
}

/** Seals `body` (any JSON) for `readers` (identity → curve public key), as `sender` (a curve key pair). */
export function sealBody(id: string, body: unknown, sender: CurveKey, readers: Readonly<Record<string, string>>): SealedBody {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(id));
  const ct = Buffer.concat([cipher.update(Buffer.from(JSON.stringify(body ?? null))), cipher.final(), cipher.getAuthTag()]);
  const k: SealedBody["k"] = {};
  for (const [reader, xkey] of Object.entries(readers)) k[reader] = { to: xkey, key: b64(xkeySeal(key, xkey, sender)) };
  return { v: SEALED_VERSION, x: sender.publicKey, iv: b64(iv), ct: b64(ct), k };
}

/** Why a sealed body could not be opened (one line), or its body. */
export type Opened = { ok: true; body: unknown } | { ok: false; reason: string };

/**
 * Opens a sealed body as `reader`, with the first of its curve key pairs the body was sealed to
 * (`keyFor` answers by public key: an old key after a rotation still opens what was sealed to it).
 */
export function openBody(id: string, sealed: SealedBody, reader: string, keyFor: (xkey: string) => CurveKey | undefined): Opened {
  const mine = sealed.k[reader];
  if (!mine) return { ok: false, reason: `sealed for ${sealedFor(sealed)}, not for ${reader}` };
  const kp = keyFor(mine.to);
  if (!kp) return { ok: false, reason: `sealed to ${reader}'s key ${mine.to.slice(0, 12)}…, which this Mac does not hold` };
  let key: Uint8Array | null;
  try {
    key = xkeyOpen(unb64(mine.key), sealed.x, kp);
  } catch {
    key = null;
  }
  if (!key || key.length !== 32) return { ok: false, reason: `the content key sealed for ${reader} does not open (not sealed by ${sealed.x.slice(0, 12)}…, or altered)` };
  try {
    const ct = unb64(sealed.ct);
    const decipher = createDecipheriv("aes-256-gcm", key, unb64(sealed.iv));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(ct.subarray(ct.length - 16));
    const plain = Buffer.concat([decipher.update(ct.subarray(0, ct.length - 16)), decipher.final()]);
    return { ok: true, body: JSON.parse(plain.toString("utf8")) as unknown };
  } catch {
    return { ok: false, reason: `the sealed body does not decrypt (altered, or sealed for another envelope)` };
  }
}

/** Who can read a sealed body, for display ("sealed for clawd, nova"). */
export function sealedFor(sealed: SealedBody): string {
  return Object.keys(sealed.k).sort().join(", ");
}
