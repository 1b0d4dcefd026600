import { describe, expect, it } from "vitest";
import { createUser } from "@nats-io/nkeys";
import { encodeEnvelope, newEnvelope, parseEnvelope, signerFromSeed, signingBytes, verifyEnvelope, type Envelope } from "../../subjects/mod.js";
import { checkBinding, checkFreshness, verifyRecord } from "../../subjects/signing.js";
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

describe("binding, freshness and signed records (subjects/signing.ts, subjects/jobs.ts)", () => {
  it("a message is bound to its recipient, to the identity its subject names, and to the sender its inbox lane names", () => {
    const env = nova.sign(msg());
    expect(checkBinding(env, { to: "clawd", subject: "agent.clawd.inbox", subjectNames: "to" })).toEqual({ ok: true });
    expect(checkBinding(env, { to: "clawd", subject: "agent.clawd.inbox.nova", subjectNames: "to" })).toEqual({ ok: true });
    expect(checkBinding(env, { to: "clawd", subject: "agent.clawd.inbox.lyra", subjectNames: "to" })).toEqual({
      ok: false,
      reason: "published on agent.clawd.inbox.lyra (lyra's lane) but claims to be from nova",
    });
    expect(checkBinding(env, { to: "lyra" })).toEqual({ ok: false, reason: "addressed to clawd, not lyra" });
    expect(checkBinding(env, { subject: "agent.lyra.inbox", subjectNames: "to" })).toEqual({
      ok: false,
      reason: "arrived on agent.lyra.inbox but is addressed to clawd (replayed to another recipient?)",
    });
    expect(checkBinding(env, { subject: "events.lyra.x", subjectNames: "from" })).toEqual({ ok: false, reason: "published on events.lyra.x but claims to be from nova" });
  });

  it("fresh within 5 minutes of when it was stored, either way; stale or future beyond", () => {
    const env = msg({ time: "2026-11-25T10:00:00.000Z" });
    expect(checkFreshness(env, new Date("2026-11-25T10:04:59.000Z"))).toEqual({ ok: true });
    expect(checkFreshness(env, new Date("2026-11-25T09:55:01.000Z"))).toEqual({ ok: true });
    expect(checkFreshness(env, new Date("2026-11-25T10:52:00.000Z"))).toEqual({
      ok: false,
      reason: "stale: signed 2026-11-25T10:00:00.000Z, stored 52 min later (a replay, or a clock off by more than 5 min)",
    });
    expect(checkFreshness(env, new Date("2026-11-25T09:50:00.000Z"))).toEqual({
      ok: false,
      reason: "signed 2026-11-25T10:00:00.000Z, 10 min in the future (clock off by more than 5 min)",
    });
  });

  it("a signed record verifies for its writer only; any change to it breaks the signature", () => {
    const unsigned: { id: string; state: string; by: string; sig?: string } = { id: "job-1", state: "done", by: "nova" };
    const rec = nova.signRecord(unsigned);
    expect(verifyRecord(rec, "nova", nova.publicKey)).toEqual({ ok: true });
    expect(verifyRecord(rec, "lyra", lyra.publicKey)).toEqual({ ok: false, reason: "signature does not match lyra's key (forged record?)" });
    const tampered = { ...rec, state: "failed" };
    expect(verifyRecord(tampered, "nova", nova.publicKey)).toEqual({ ok: false, reason: "signature does not match nova's key (forged record?)" });
    expect(verifyRecord({ ...rec, sig: undefined }, "nova", nova.publicKey)).toEqual({ ok: false, reason: "unsigned record claiming to be written by nova" });
    expect(verifyRecord(rec, "ghost", undefined)).toEqual({ ok: false, reason: "written by ghost, who is not a registered identity" });
  });

});
