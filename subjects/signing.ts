import { fromPublic, fromSeed, type KeyPair } from "@nats-io/nkeys";
import type { Envelope } from "./envelope-core.js";

/**
 * Sender authenticity: an envelope is signed with its sender's nkey (ed25519, the same key that
 * authenticates it to the broker) over a canonical form — every field except `sig`, keys sorted,
 * JSON — and verified against the sender's public key in the mesh-identities registry.
 */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function signingBytes(env: Envelope): Uint8Array {
  const { sig: _sig, ...rest } = env;
  return new TextEncoder().encode(JSON.stringify(canonical(rest)));
}

export interface Signer {
  publicKey: string;
  sign(env: Envelope): Envelope;
}

export function signerFromSeed(seed: string | Uint8Array): Signer {
  const kp: KeyPair = fromSeed(typeof seed === "string" ? new TextEncoder().encode(seed.trim()) : seed);
  return {
    publicKey: kp.getPublicKey(),
    sign: (env) => ({ ...env, sig: Buffer.from(kp.sign(signingBytes(env))).toString("base64url") }),
  };
}

export type Verdict = { ok: true } | { ok: false; reason: string };

export function verifyEnvelope(env: Envelope, publicKey: string | undefined): Verdict {
  if (!publicKey) return { ok: false, reason: `sender ${env.from} is not a registered identity` };
  if (!env.sig) return { ok: false, reason: `unsigned message claiming to be from ${env.from}` };
  try {
    const ok = fromPublic(publicKey).verify(signingBytes(env), Buffer.from(env.sig, "base64url"));
    return ok ? { ok: true } : { ok: false, reason: `signature does not match ${env.from}'s key (forged sender?)` };
  } catch {
    return { ok: false, reason: `malformed signature on a message from ${env.from}` };
  }
}
