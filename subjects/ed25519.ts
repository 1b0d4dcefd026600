import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { fromPublic, fromSeed } from "@nats-io/nkeys";

/**
 * Ed25519 for nkeys through Node's own crypto (OpenSSL), not the pure-JavaScript tweetnacl that
 * @nats-io/nkeys uses: a signature there derives the key pair from the seed again and runs
 * ~100× slower, which made signing and verifying the inbox's cost (see BENCHMARKS.md). The keys are
 * the same nkeys: nkeys still checks an nkey's encoding and checksum; only the curve arithmetic moves.
 */

const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/** RFC 4648 base32 without padding, as nkeys encode keys and seeds. */
export function base32Decode(s: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of s) {
    const i = B32.indexOf(ch);
    if (i < 0) throw new Error("invalid base32");
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

// DER wrappers of a raw Ed25519 key (RFC 8410): PKCS#8 around a 32-byte seed, SPKI around a public key.
const PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI = Buffer.from("302a300506032b6570032100", "hex");

export interface Ed25519Signer {
  publicKey: string;
  sign(data: Uint8Array): Uint8Array;
}

/** A signer from an nkey seed ("SU…"), checked by nkeys, signing natively. */
export function ed25519FromSeed(seed: Uint8Array): Ed25519Signer {
  const kp = fromSeed(seed); // throws on a bad seed
  const publicKey = kp.getPublicKey();
  // seed = base32( 2 prefix bytes | 32-byte raw seed | 2-byte CRC )
  const raw = base32Decode(new TextDecoder().decode(seed).trim()).subarray(2, 34);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8, raw]), format: "der", type: "pkcs8" });
  kp.clear();
  return { publicKey, sign: (data) => new Uint8Array(cryptoSign(null, data, key)) };
}

const publicKeys = new Map<string, KeyObject>();
const MAX_CACHED = 4096;

function publicKeyObject(nkey: string): KeyObject {
  const hit = publicKeys.get(nkey);
  if (hit) return hit;
  fromPublic(nkey); // throws on a bad public nkey (prefix, checksum)
  // public = base32( 1 prefix byte | 32-byte key | 2-byte CRC )
  const raw = base32Decode(nkey).subarray(1, 33);
  const key = createPublicKey({ key: Buffer.concat([SPKI, raw]), format: "der", type: "spki" });
  if (publicKeys.size >= MAX_CACHED) publicKeys.delete(publicKeys.keys().next().value as string);
  publicKeys.set(nkey, key);
  return key;
}

/** True when `sig` is `nkey`'s signature of `data`; throws on a malformed key. */
export function ed25519Verify(nkey: string, data: Uint8Array, sig: Uint8Array): boolean {
  if (sig.length !== 64) return false;
  return cryptoVerify(null, data, publicKeyObject(nkey), sig);
}
