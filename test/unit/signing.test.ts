import { describe, expect, it } from "vitest";
import { createUser } from "@nats-io/nkeys";
import { encodeEnvelope, newEnvelope, parseEnvelope, signerFromSeed, signingBytes, verifyEnvelope, type Envelope } from "../../subjects/mod.js";
import { credentialText, parseCredential } from "../../broker/credentials.js";

const seedOf = (): string => new TextDecoder().decode(createUser().getSeed());
const nova = signerFromSeed(seedOf());
const lyra = signerFromSeed(seedOf());
const msg = (over: Partial<Envelope> = {}): Envelope => ({
  ...newEnvelope({ from: "nova", to: "clawd", kind: "ask", body: { text: "hi", n: 1 }, replyTo: "reply.nova.abc" }),
  ...over,
});

describe("envelope signatures (subjects/signing.ts)", () => {
  it("a signed envelope verifies against its sender's key, also after encode → parse", () => {
    const env = nova.sign(msg());
    expect(env.sig).toMatch(/^[A-Za-z0-9_-]{86}$/); // ed25519: 64 bytes, base64url
    expect(verifyEnvelope(env, nova.publicKey)).toEqual({ ok: true });
    expect(verifyEnvelope(parseEnvelope(encodeEnvelope(env)), nova.publicKey)).toEqual({ ok: true });
  });

  it("the canonical form ignores key order and the sig field, and skips undefined fields", () => {
    const env = msg();
    const reordered = Object.fromEntries(Object.entries(env).reverse()) as Envelope;
    expect(signingBytes(reordered)).toEqual(signingBytes(env));
    expect(signingBytes({ ...env, sig: "x" })).toEqual(signingBytes(env));
    expect(signingBytes({ ...env, correlationId: undefined })).toEqual(signingBytes(env));
    const nested = { ...env, body: { n: 1, text: "hi" } };
    expect(signingBytes(nested)).toEqual(signingBytes(env));
  });

  it("any change to a signed field breaks the signature", () => {
    const env = nova.sign(msg());
    for (const tampered of [
      { ...env, from: "lyra" },
      { ...env, to: "nova" },
      { ...env, body: { text: "hi!", n: 1 } },
      { ...env, replyTo: "reply.lyra.abc" },
      { ...env, time: new Date(0).toISOString() },
      { ...env, id: `${env.id}x` },
      { ...env, kind: "message" as const },
    ]) {
      expect(verifyEnvelope(tampered, nova.publicKey)).toEqual({ ok: false, reason: expect.stringMatching(/does not match/) });
    }
  });

  it("forged, unsigned, unregistered and malformed are refused with a reason", () => {
    // lyra signs an envelope that claims to be from nova
    expect(verifyEnvelope(lyra.sign(msg()), nova.publicKey)).toEqual({ ok: false, reason: "signature does not match nova's key (forged sender?)" });
    expect(verifyEnvelope(msg(), nova.publicKey)).toEqual({ ok: false, reason: "unsigned message claiming to be from nova" });
    expect(verifyEnvelope(nova.sign(msg()), undefined)).toEqual({ ok: false, reason: "sender nova is not a registered identity" });
    expect(verifyEnvelope({ ...msg(), sig: "AAAA" }, nova.publicKey).ok).toBe(false);
    expect(verifyEnvelope(nova.sign(msg()), "not-a-key")).toEqual({ ok: false, reason: "malformed signature on a message from nova" });
  });
});

describe("credential files (broker/credentials.ts)", () => {
  it("round-trips the identity and the seed; a bare seed still reads", () => {
    const seed = seedOf();
    expect(parseCredential(credentialText("nova", seed))).toEqual({ seed, identity: "nova" });
    expect(parseCredential(`${seed}\n`)).toEqual({ seed });
    expect(parseCredential("-----BEGIN NATS USER JWT-----\nabc\n")).toBeUndefined();
    expect(parseCredential(`${seed}\n${seed}\n`)).toBeUndefined();
  });
});
