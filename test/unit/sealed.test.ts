import { describe, expect, it } from "vitest";
import { createCurve } from "@nats-io/nkeys";
import { CurveKey, openBody, sealBody, sealedFor, xkeyOpen, xkeySeal } from "../../subjects/sealed.js";
import { bodyText, newEnvelope } from "../../subjects/envelope-core.js";
import { parseEnvelope } from "../../subjects/envelope.js";

describe("sealed bodies (AES-256-GCM body, content key sealed per reader with nkeys xkeys)", () => {
  const curve = () => new CurveKey(new TextDecoder().decode(createCurve().getSeed()));
  const sender = curve();
  const clawd = curve();
  const nova = curve();
  const keys = new Map([clawd, nova, sender].map((k) => [k.publicKey, k]));
  const keyFor = (x: string) => keys.get(x);

  it("each reader opens the body; the ciphertext holds no plaintext", () => {
    const s = sealBody("m1", "run the test suite on cackles", sender, { clawd: clawd.publicKey, nova: nova.publicKey });
    expect(JSON.stringify(s)).not.toContain("cackles");
    expect(openBody("m1", s, "clawd", keyFor)).toEqual({ ok: true, body: "run the test suite on cackles" });
    expect(openBody("m1", s, "nova", keyFor)).toEqual({ ok: true, body: "run the test suite on cackles" });
    expect(sealedFor(s)).toBe("clawd, nova");
  });

  it("refuses: another reader, a key not held, another envelope's id, an altered ciphertext, a content key sealed by another sender", () => {
    const s = sealBody("m2", { n: 1 }, sender, { clawd: clawd.publicKey });
    expect(openBody("m2", s, "lyra", keyFor)).toEqual({ ok: false, reason: "sealed for clawd, not for lyra" });
    expect(openBody("m2", s, "clawd", () => undefined)).toMatchObject({ ok: false, reason: expect.stringMatching(/^sealed to clawd's key X.{11}…, which this Mac does not hold$/) });
    expect(openBody("other-id", s, "clawd", keyFor)).toEqual({ ok: false, reason: "the sealed body does not decrypt (altered, or sealed for another envelope)" });
    const ct = Buffer.from(s.ct, "base64url");
    ct[0] = ct[0]! ^ 1;
    expect(openBody("m2", { ...s, ct: ct.toString("base64url") }, "clawd", keyFor)).toEqual({ ok: false, reason: "the sealed body does not decrypt (altered, or sealed for another envelope)" });
    expect(openBody("m2", { ...s, x: nova.publicKey }, "clawd", keyFor)).toMatchObject({ ok: false, reason: expect.stringMatching(/^the content key sealed for clawd does not open/) });
  });

  it("a content key sealed here opens with nkeys' own KeyPair.open, and one sealed by KeyPair.seal opens here (the xkv1 format)", () => {
    const a = createCurve();
    const b = createCurve();
    const ak = new CurveKey(new TextDecoder().decode(a.getSeed()));
    const bk = new CurveKey(new TextDecoder().decode(b.getSeed()));
    expect(ak.publicKey).toBe(a.getPublicKey());
    const msg = new TextEncoder().encode("content key 32 bytes long.......");
    expect(b.open(xkeySeal(msg, b.getPublicKey(), ak), a.getPublicKey())).toEqual(msg);
    expect(xkeyOpen(a.seal(msg, b.getPublicKey()), a.getPublicKey(), bk)).toEqual(msg);
    expect(xkeyOpen(a.seal(msg, b.getPublicKey()), createCurve().getPublicKey(), bk)).toBeNull();
  });

  it("the envelope schema takes a sealed envelope without a body, refuses one with both, and bodyText names its readers", () => {
    const { body: _clear, ...rest } = newEnvelope({ from: "nova", to: "clawd", kind: "message", body: "hi" });
    const env = { ...rest, sealed: sealBody(rest.id, "hi", sender, { clawd: clawd.publicKey }) };
    const parsed = parseEnvelope(new TextEncoder().encode(JSON.stringify(env)));
    expect(parsed.sealed?.k.clawd?.to).toBe(clawd.publicKey);
    expect(bodyText(parsed)).toBe("[sealed for clawd]");
    expect(() => parseEnvelope(new TextEncoder().encode(JSON.stringify({ ...env, body: "clear too" })))).toThrow(/a sealed envelope carries no clear body/);
  });
});
