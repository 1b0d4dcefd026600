import { describe, expect, it } from "vitest";
import { ENVELOPE_VERSION, EnvelopeError, MAX_TEXT_BYTES, encodeEnvelope, newEnvelope, parseEnvelope } from "../../subjects/mod.js";

describe("envelope v1", () => {
  it("round-trips through bytes", () => {
    const env = newEnvelope({ from: "clawd", to: "nova", kind: "ask", body: "hi ✓", replyTo: "reply.clawd.x1" });
    expect(env.v).toBe(ENVELOPE_VERSION);
    expect(env.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(parseEnvelope(encodeEnvelope(env))).toEqual(env);
  });

  it.each([
    ["not JSON", "hello", /not JSON/],
    ["JSON but not an object", "42", /wrong shape/],
    ["a future version", JSON.stringify({ v: 2, id: "x" }), /unsupported envelope version 2/],
    ["no version", JSON.stringify({ id: "abcdefgh" }), /wrong shape: v/],
    [
      "a forbidden sender",
      JSON.stringify({ v: 1, id: "abcdefgh1", from: "no.va", to: "clawd", time: new Date().toISOString(), kind: "message", body: "x" }),
      /wrong shape: from/,
    ],
    [
      "an unknown kind",
      JSON.stringify({ v: 1, id: "abcdefgh1", from: "nova", to: "clawd", time: new Date().toISOString(), kind: "shout", body: "x" }),
      /wrong shape: kind/,
    ],
    [
      "an extra field",
      JSON.stringify({ v: 1, id: "abcdefgh1", from: "nova", to: "clawd", time: new Date().toISOString(), kind: "message", body: "x", admin: true }),
      /wrong shape/,
    ],
    [
      "a bad time",
      JSON.stringify({ v: 1, id: "abcdefgh1", from: "nova", to: "clawd", time: "yesterday", kind: "message", body: "x" }),
      /wrong shape: time/,
    ],
  ])("refuses %s with a one-line reason", (_what, raw, re) => {
    expect(() => parseEnvelope(raw)).toThrow(EnvelopeError);
    expect(() => parseEnvelope(raw)).toThrow(re);
  });

  it("refuses bad input when building", () => {
    expect(() => newEnvelope({ from: "nova", to: "cl*awd", kind: "message", body: "x" })).toThrow(/to/);
    expect(() => newEnvelope({ from: "nova", to: "clawd", kind: "message", body: "x".repeat(MAX_TEXT_BYTES + 1) })).toThrow(/limit/);
  });
});
