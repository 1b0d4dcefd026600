/**
 * 6. Bad input on every entry point, from the corpus in test/corpus: the CLI answers with one line
 * and a non-zero exit; the sidecar dead-letters with a reason and stays up; a property test feeds
 * generated envelopes to the parser and generated names to the subject builders.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { publishRaw, sendMessage } from "../../src/bus/publish.js";
import { EnvelopeError, eventSubject, inboxSubject, InvalidNameError, parseEnvelope, replySubject, jobSubject, newEnvelope } from "../../subjects/mod.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { startBroker, type TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar, storedEnvelopes, until } from "../support/sidecar.js";
import { record } from "./tally.js";

const corpus = fileURLToPath(new URL("../corpus/", import.meta.url));
const oneLine = (s: string): boolean => s.trim().length > 0 && s.trim().split("\n").length === 1 && !/\n\s+at /.test(s);

let broker: TestBroker;
let nc: NatsConnection;
let hooks: HooksEndpoint;
let sidecar: Sidecar;
const env = (): Record<string, string> => ({ MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" });

beforeAll(async () => {
  broker = await startBroker();
  nc = await connectMesh({ server: broker.url });
  await provision(nc);
  hooks = await startHooksEndpoint();
  sidecar = await testSidecar({ identity: "f6", server: broker.url, gatewayUrl: hooks.url, hooksToken: hooks.token, jobs: false });
});

afterAll(async () => {
  await sidecar?.stop();
  await hooks?.close();
  await nc?.close();
  await broker?.stop();
});

describe("faults: bad input", () => {
  it("6. the corpus on every entry point", async () => {
    const notes: string[] = [];
    // Sidecar: every bad envelope is dead-lettered with a reason, never delivered.
    const lines = readFileSync(join(corpus, "bad-envelopes.jsonl"), "utf8").split("\n").filter((l) => l.length > 0);
    for (const l of lines) await publishRaw(nc, "agent.f6.inbox", new TextEncoder().encode(l.replace(/TARGET/g, "f6")));
    // Over the gateway's body limit (under the broker's): the gateway answers 413 → dead letter.
    await sendMessage(nc, { from: "clawd", to: "f6", body: "x".repeat(300 * 1024) });
    // Hooks receiver answering garbage (200 with HTML): dead letter, not an endless retry.
    hooks.respond = (h) => (h.body.message?.includes("garbage-please") ? { status: 200, body: "garbage" } : undefined);
    await sendMessage(nc, { from: "lyra", to: "f6", body: "garbage-please" });
    await sendMessage(nc, { from: "clawd", to: "f6", body: "a good one after all that" });
    await until("the good one", () => hooks.received.some((h) => h.body.message?.includes("a good one after all that")), 30_000);
    const expectedDead = lines.length + 2;
    const dead = await until("all dead letters", async () => {
      const d = await storedEnvelopes(nc, "DLQ", "dlq.f6.inbox");
      return d.length >= expectedDead && d;
    }, 30_000);
    const reasons = dead.map((d) => (d.body as { reason: string }).reason);
    expect(reasons.every((r) => r.length > 0 && !r.includes("\n"))).toBe(true);
    expect(reasons.some((r) => /HTTP 413/.test(r))).toBe(true);
    expect(reasons.some((r) => /without \{"ok":true\}/.test(r))).toBe(true);
    expect(hooks.received.filter((h) => h.body.message?.includes("fault stream") || h.body.message === "hi")).toHaveLength(0);
    expect(sidecar.inbox.stats.delivered).toBe(1);
    notes.push(`${lines.length} corpus envelopes + 1 over the gateway limit + 1 garbage answer → ${dead.length} dead letters with reasons; sidecar alive`);

    // CLI: identities from the corpus → one line, non-zero.
    const ids = JSON.parse(readFileSync(join(corpus, "bad-identities.json"), "utf8")) as string[];
    for (const id of ids) {
      const r = await mesh(["send", id, "hi"], { env: env() });
      expect(r.code, JSON.stringify(id)).not.toBe(0);
      expect(oneLine(r.stderr), `${JSON.stringify(id)}: ${r.stderr}`).toBe(true);
    }
    notes.push(`${ids.length} bad identities → one-line CLI errors`);
    // CLI: over the broker's max payload.
    const big = await mesh(["pub", "--raw", "events.clawd.big"], { env: env(), input: "y".repeat(1024 * 1024 + 10) });
    expect(big.code).not.toBe(0);
    expect(big.stderr).toMatch(/too large|maximum payload/i);
    expect(oneLine(big.stderr)).toBe(true);
    // CLI: config files with wrong types → one line naming the field.
    const expected = JSON.parse(readFileSync(join(corpus, "configs", "expected.json"), "utf8")) as Record<string, string>;
    for (const f of readdirSync(join(corpus, "configs")).filter((x) => x !== "expected.json")) {
      const r = await mesh(["peers", "--config", join(corpus, "configs", f)], { env: env() });
      expect(r.code, f).not.toBe(0);
      expect(oneLine(r.stderr), `${f}: ${r.stderr}`).toBe(true);
      expect(r.stderr, f).toContain(expected[f]!);
    }
    notes.push(`${Object.keys(expected).length} bad config files → one line naming the field`);
    record({ scenario: "6. bad input (corpus in test/corpus)", sent: lines.length + 3, acknowledged: lines.length + 3, delivered: 1, duplicates: 0, lost: 0, notes: notes.join("; ") });
  });

  it("6b. property: generated envelopes and names never crash the parser or make a bad subject", () => {
    const anyJson = fc.jsonValue();
    const envLike = fc.record(
      {
        v: fc.oneof(fc.constant(1), fc.integer(), fc.string()),
        id: fc.string(),
        from: fc.oneof(fc.constantFrom("clawd", "nova"), fc.string()),
        to: fc.oneof(fc.constantFrom("nova", "*"), fc.string()),
        time: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()),
        kind: fc.oneof(fc.constantFrom("message", "ask", "reply", "event", "job", "dead-letter"), fc.string()),
        body: anyJson,
        replyTo: fc.string(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(anyJson.map((j) => JSON.stringify(j)), envLike.map((e) => JSON.stringify(e)), fc.string(), fc.uint8Array().map((b) => Buffer.from(b).toString("latin1"))), (raw) => {
        try {
          const e = parseEnvelope(raw);
          // Whatever parses is a well-formed envelope.
          expect(e.v).toBe(1);
          expect(inboxSubject(e.from)).toMatch(/^agent\.[a-z0-9-]+\.inbox$/);
        } catch (err) {
          expect(err).toBeInstanceOf(EnvelopeError);
          expect((err as Error).message).not.toContain("\n");
        }
      }),
      { numRuns: 3000 },
    );
    const fullUnicode = fc.string({ unit: "binary" });
    fc.assert(
      fc.property(fc.oneof(fc.string(), fullUnicode, fc.stringMatching(/^[a-z0-9-]{0,40}$/)), (name) => {
        for (const build of [() => inboxSubject(name), () => eventSubject(name, "x"), () => replySubject("nova", name), () => jobSubject(name, [name])]) {
          try {
            const s = build();
            expect(s).toMatch(/^[a-z0-9+.-]+$/);
            expect(s.split(".").every((t) => t.length > 0 && t !== "*" && t !== ">")).toBe(true);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidNameError);
            expect((err as Error).message).not.toContain("\n");
          }
        }
        try {
          newEnvelope({ from: name, to: "nova", kind: "message", body: "x" });
        } catch (err) {
          expect(err).toBeInstanceOf(EnvelopeError);
        }
      }),
      { numRuns: 3000 },
    );
    record({ scenario: "6b. property test (fast-check)", sent: 6000, acknowledged: 6000, delivered: 0, duplicates: 0, lost: 0, notes: "3000 generated envelopes to parseEnvelope, 3000 generated names to every subject builder: only EnvelopeError / InvalidNameError, never a bad subject" });
  });
});
