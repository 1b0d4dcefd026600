import { describe, expect, it } from "vitest";
import { createCurve } from "@nats-io/nkeys";
import { openBody, sealBody, sealedFor } from "../../subjects/sealed.js";
import { bodyText, newEnvelope } from "../../subjects/envelope-core.js";
import { parseEnvelope } from "../../subjects/envelope.js";

describe("sealed bodies (AES-256-GCM body, content key sealed per reader with nkeys xkeys)", () => {
  const sender = createCurve();
  const clawd = createCurve();
  const nova = createCurve();
  const keys = new Map([clawd, nova, sender].map((k) => [k.getPublicKey(), k]));
  const keyFor = (x: string) => keys.get(x);

  it("each reader opens the body; the ciphertext holds no plaintext", () => {
    const s = sealBody("m1", "run the test suite on cackles", sender, { clawd: clawd.getPublicKey(), nova: nova.getPublicKey() });
    expect(JSON.stringify(s)).not.toContain("cackles");
    expect(openBody("m1", s, "clawd", keyFor)).toEqual({ ok: true, body: "run the test suite on cackles" });
    expect(openBody("m1", s, "nova", keyFor)).toEqual({ ok: true, body: "run the test suite on cackles" });
    expect(sealedFor(s)).toBe("clawd, nova");
  });

  it("refuses: another reader, a key not held, another envelope's id, an altered ciphertext, a content key sealed by another sender", () => {
    const s = sealBody("m2", { n: 1 }, sender, { clawd: clawd.getPublicKey() });
    expect(openBody("m2", s, "lyra", keyFor)).toEqual({ ok: false, reason: "sealed for clawd, not for lyra" });
    expect(openBody("m2", s, "clawd", () => undefined)).toMatchObject({ ok: false, reason: expect.stringMatching(/^sealed to clawd's key X.{11}…, which this Mac does not hold$/) });
    expect(openBody("other-id", s, "clawd", keyFor)).toEqual({ ok: false, reason: "the sealed body does not decrypt (altered, or sealed for another envelope)" });
    const ct = Buffer.from(s.ct, "base64url");
    ct[0] = ct[0]! ^ 1;
    expect(openBody("m2", { ...s, ct: ct.toString("base64url") }, "clawd", keyFor)).toEqual({ ok: false, reason: "the sealed body does not decrypt (altered, or sealed for another envelope)" });
    expect(openBody("m2", { ...s, x: nova.getPublicKey() }, "clawd", keyFor)).toMatchObject({ ok: false, reason: expect.stringMatching(/^the content key sealed for clawd does not open/) });
  });

  it("the envelope schema takes a sealed envelope without a body, refuses one with both, and bodyText names its readers", () => {
    const { body: _clear, ...rest } = newEnvelope({ from: "nova", to: "clawd", kind: "message", body: "hi" });
    const env = { ...rest, sealed: sealBody(rest.id, "hi", sender, { clawd: clawd.getPublicKey() }) };
    const parsed = parseEnvelope(new TextEncoder().encode(JSON.stringify(env)));
    expect(parsed.sealed?.k.clawd?.to).toBe(clawd.getPublicKey());
    expect(bodyText(parsed)).toBe("[sealed for clawd]");
    expect(() => parseEnvelope(new TextEncoder().encode(JSON.stringify({ ...env, body: "clear too" })))).toThrow(/a sealed envelope carries no clear body/);
  });
});
