import { canonicalizeAgentCard, type AgentCard } from "@a2a-js/sdk";

/**
 * Agent Card signatures (A2A 1.0 §8.4: a JWS over the card in JCS canonical form, detached, in
 * `signatures`) made with the key the mesh already has: the identity's nkey (Ed25519, the one its
 * envelopes are signed with). The `kid` is its public nkey, which the mesh's identity registry
 * (mesh-identities) lists; `jwkOfNkey` turns it into the JWK a verifier needs.
 */
export interface CardSigner {
  /** The public nkey (U…): the signature's kid. */
  publicKey: string;
  /** Raw Ed25519 signature of `bytes`. */
  signBytes(bytes: Uint8Array): Uint8Array;
}

const b64url = (b: Uint8Array | string): string => Buffer.from(b).toString("base64url");

export function signCard(card: AgentCard, signer: CardSigner): AgentCard {
  const header = b64url(JSON.stringify({ alg: "EdDSA", typ: "JOSE", kid: signer.publicKey }));
  const payload = b64url(canonicalizeAgentCard(card));
  const signature = b64url(signer.signBytes(new TextEncoder().encode(`${header}.${payload}`)));
  return { ...card, signatures: [{ protected: header, signature, header: undefined }] } as AgentCard;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** The Ed25519 public key of an nkey (base32 of prefix byte, 32 key bytes, CRC16) as a JWK. */
export function jwkOfNkey(publicKey: string): { kty: "OKP"; crv: "Ed25519"; x: string; kid: string } {
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of publicKey) {
    const i = ALPHABET.indexOf(c);
    if (i === -1) throw new Error(`not an nkey: ${publicKey.slice(0, 12)}…`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  if (out.length !== 35) throw new Error(`not an nkey public key: ${publicKey.slice(0, 12)}…`);
  return { kty: "OKP", crv: "Ed25519", x: b64url(Uint8Array.from(out.slice(1, 33))), kid: publicKey };
}
