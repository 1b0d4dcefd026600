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
import { publishRaw, sendMessage } from "../../src/bus/publish.js";
import { EnvelopeError, isIdentity, type DeadLetterBody, eventSubject, inboxSubject, InvalidNameError, parseEnvelope, replySubject, jobSubject, newEnvelope } from "../../subjects/mod.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import type { TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { storedEnvelopes, until } from "../support/sidecar.js";
import { observedBroker, record, recordProperty } from "./tally.js";

const corpus = fileURLToPath(new URL("../corpus/", import.meta.url));
const oneLine = (s: string): boolean => s.trim().length > 0 && s.trim().split("\n").length === 1 && !/\n\s+at /.test(s);

let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let hooks: HooksEndpoint;
let sidecar: Sidecar;
const env = (): Record<string, string> => ({ MESH_SERVER: broker.url, MESH_IDENTITY: "clawd" });

beforeAll(async () => {
  m = await startMesh();
  ({ broker, nc, gateway: hooks } = m);
  sidecar = await m.sidecar("f6", { jobs: false });
});

afterAll(async () => {
  await m?.stop();
});

/**
 * What the sidecar must say about each line of test/corpus/bad-envelopes.jsonl, in file order
 * (TARGET is replaced by the sidecar's identity). One entry per line: a changed corpus fails here.
 */
const CORPUS_REASONS: RegExp[] = [
  /^invalid envelope: not JSON$/, // not json at all
  /^invalid envelope: not JSON$/, // truncated object
  /^invalid envelope: wrong shape: \(root\): .*expected object, received array$/,
  /^invalid envelope: wrong shape: \(root\): .*expected object, received null$/,
  /^invalid envelope: wrong shape: \(root\): .*expected object, received number$/,
  /^invalid envelope: wrong shape: \(root\): .*expected object, received string$/,
  /^invalid envelope: unsupported envelope version 2 \(this build speaks v1\)$/,
  /^invalid envelope: unsupported envelope version "1" \(this build speaks v1\)$/,
  /^invalid envelope: wrong shape: from: .*expected string, received undefined$/, // missing fields
  ...Array<RegExp>(8).fill(/^invalid envelope: wrong shape: from: must be an identity /), // dot, star, >, space, control, non-ASCII, zero-width, RTL
  /^invalid envelope: wrong shape: time: /,
  /^invalid envelope: wrong shape: kind: /, // shout
  /^invalid envelope: wrong shape: \(root\): Unrecognized key: "admin"$/,
  /^kind event does not belong in an inbox$/,
  /^addressed to someone-else, not f6$/,
  /^invalid envelope: wrong shape: id: /, // id with spaces
  /^invalid envelope: not JSON$/, // binary garbage
  /^invalid envelope: wrong shape: kind: /, // nested
];

describe("faults: bad input", () => {
  it("6. every corpus envelope, an over-limit body and a garbage gateway answer are each dead-lettered once with their own reason; only the good message becomes a turn; the CLI answers bad identities, payloads and configs with one line", async () => {
    const notes: string[] = [];
    // Sidecar: every bad envelope is dead-lettered with a reason, never delivered.
    const lines = readFileSync(join(corpus, "bad-envelopes.jsonl"), "utf8").split("\n").filter((l) => l.length > 0);
    expect(lines, "CORPUS_REASONS has one entry per corpus line").toHaveLength(CORPUS_REASONS.length);
    // Each published message and what must become of it, by its INBOX sequence.
    const published: Array<{ what: string; seq: number | undefined; duplicate: boolean; fate: "dead" | "turn"; reason?: RegExp; id?: string }> = [];
    for (const [i, l] of lines.entries()) {
      const bytes = new TextEncoder().encode(l.replace(/TARGET/g, "f6"));
      const p = await publishRaw(nc, "agent.f6.inbox.f6-sender", bytes);
      // A line that is a well-formed envelope (refused later, e.g. misaddressed) is dead-lettered with its id.
      let id: string | undefined;
      try {
        id = parseEnvelope(bytes).id;
      } catch {
        id = undefined;
      }
      published.push({ what: `corpus line ${i + 1}: ${l.slice(0, 60)}`, seq: p.seq, duplicate: p.duplicate === true, fate: "dead", reason: CORPUS_REASONS[i]!, ...(id ? { id } : {}) });
    }
    // Over the gateway's body limit (under the broker's): the gateway answers 413 → dead letter.
    const big = await sendMessage(nc, { from: "clawd", to: "f6", body: "x".repeat(300 * 1024) });
    published.push({ what: "over the gateway's body limit", seq: big.seq, duplicate: big.duplicate === true, fate: "dead", reason: /^gateway refused it: HTTP 413 payload too large$/, id: big.envelope.id });
    // Hooks receiver answering garbage (200 with HTML): dead letter, not an endless retry.
    hooks.respond = (h) => (h.body.message?.includes("garbage-please") ? { status: 200, body: "garbage" } : undefined);
    const garbage = await sendMessage(nc, { from: "lyra", to: "f6", body: "garbage-please" });
    published.push({ what: "gateway answers garbage", seq: garbage.seq, duplicate: garbage.duplicate === true, fate: "dead", reason: /^gateway refused it: gateway answered 200 without \{"ok":true\} /, id: garbage.envelope.id });
    const good = await sendMessage(nc, { from: "clawd", to: "f6", body: "a good one after all that" });
    published.push({ what: "the good one", seq: good.seq, duplicate: good.duplicate === true, fate: "turn", id: good.envelope.id });
    const acknowledged = published.filter((p) => p.seq !== undefined && !p.duplicate);
    expect(acknowledged).toHaveLength(published.length);

    await until("the good one", () => hooks.received.some((h) => h.body.message?.includes("a good one after all that")), 30_000);
    const mustDie = published.filter((p) => p.fate === "dead");
    await until("a dead letter for every bad message", async () => {
      const d = await storedEnvelopes(nc, "DLQ-f6", "dlq.f6.inbox.*");
      const seqs = new Set(d.map((e) => (e.body as DeadLetterBody).seq));
      return mustDie.every((p) => seqs.has(p.seq)) && d;
    }, 30_000);
    // Anything late (a second dead letter for the same message) shows up in a second read.
    await new Promise((r) => setTimeout(r, 1000));
    const deadNow = await storedEnvelopes(nc, "DLQ-f6", "dlq.f6.inbox.*");
    const bySeq = new Map<number, DeadLetterBody[]>();
    for (const d of deadNow) {
      const b = d.body as DeadLetterBody;
      expect(b.stream, JSON.stringify(b)).toBe("INBOX-f6");
      bySeq.set(b.seq!, [...(bySeq.get(b.seq!) ?? []), b]);
    }
    // Each message's own fate and reason, one by one.
    for (const p of published) {
      const letters = bySeq.get(p.seq!) ?? [];
      if (p.fate === "dead") {
        expect(letters.map((l) => l.reason), p.what).toHaveLength(1);
        expect(letters[0]!.reason, p.what).toMatch(p.reason!);
        expect(letters[0]!.reason, p.what).not.toContain("\n");
        // The id it claimed, when it had a readable one; none otherwise.
        expect(letters[0]!.originalId, p.what).toBe(p.id);
      } else {
        expect(letters, `${p.what} must not be dead-lettered`).toHaveLength(0);
      }
    }
    // Nothing in the DLQ that is not one of these messages.
    expect([...bySeq.keys()].sort((a, b) => a - b)).toEqual(mustDie.map((p) => p.seq!).sort((a, b) => a - b));
    // The gateway: exactly one turn (the good one); POSTs only for the three that passed the sidecar's checks.
    expect(hooks.received.map((h) => h.body.message?.endsWith("\n\na good one after all that"))).toEqual([true]);
    const postedKeys = hooks.postLog.map((p) => p.idempotencyKey);
    expect(new Set(postedKeys)).toEqual(new Set([`mesh-${big.envelope.id}`, `mesh-${garbage.envelope.id}`, `mesh-${good.envelope.id}`]));
    expect(hooks.postLog.find((p) => p.idempotencyKey === `mesh-${big.envelope.id}`)?.status).toBe(413);
    expect(sidecar.inbox.stats.delivered).toBe(1);
    expect(sidecar.inbox.stats.deadLettered).toBe(mustDie.length);
    const deadPerMessage = published.map((p) => (bySeq.get(p.seq!) ?? []).length);
    const turned = (p: (typeof published)[number]): boolean => p.id !== undefined && hooks.postLog.some((x) => x.turn && x.idempotencyKey === `mesh-${p.id}`);
    // Lost: acknowledged, yet neither dead-lettered nor turned into an agent turn.
    const lost = published.filter((p, i) => deadPerMessage[i] === 0 && !turned(p)).length;
    notes.push(
      `${lines.length} corpus envelopes + 1 over the gateway limit + 1 garbage answer → ${deadNow.length} dead letters, ${deadPerMessage.filter((n) => n === 1).length} messages with exactly one, each with its expected reason; ${published.filter(turned).length} turn; sidecar kept going`,
    );

    // CLI: identities from the corpus → one line, non-zero.
    const ids = JSON.parse(readFileSync(join(corpus, "bad-identities.json"), "utf8")) as string[];
    let idsRefused = 0;
    for (const id of ids) {
      const r = await mesh(["send", id, "hi"], { env: env() });
      expect(r.code, JSON.stringify(id)).not.toBe(0);
      expect(oneLine(r.stderr), `${JSON.stringify(id)}: ${r.stderr}`).toBe(true);
      idsRefused++;
    }
    notes.push(`${idsRefused} of ${ids.length} bad identities → one-line CLI errors`);
    // CLI: over the broker's max payload.
    const bigPub = await mesh(["pub", "--raw", "events.clawd.big"], { env: env(), input: "y".repeat(1024 * 1024 + 10) });
    expect(bigPub.code).not.toBe(0);
    expect(bigPub.stderr).toMatch(/too large|maximum payload/i);
    expect(oneLine(bigPub.stderr)).toBe(true);
    notes.push(`over-size pub → exit ${bigPub.code} with a one-line error`);
    // CLI: config files with wrong types → one line naming the field.
    const expected = JSON.parse(readFileSync(join(corpus, "configs", "expected.json"), "utf8")) as Record<string, string>;
    let configsRefused = 0;
    const configFiles = readdirSync(join(corpus, "configs")).filter((x) => x !== "expected.json");
    for (const f of configFiles) {
      const r = await mesh(["peers", "--config", join(corpus, "configs", f)], { env: env() });
      expect(r.code, f).not.toBe(0);
      expect(oneLine(r.stderr), `${f}: ${r.stderr}`).toBe(true);
      expect(r.stderr, f).toContain(expected[f]!);
      configsRefused++;
    }
    notes.push(`${configsRefused} of ${configFiles.length} bad config files → one line naming the field`);
    const postKeys = hooks.postLog.map((p) => p.idempotencyKey ?? "(none)");
    const turnIds = hooks.received.map((h) => h.body.message ?? "");
    record({
      scenario: "6. bad input (corpus in test/corpus)",
      broker: observedBroker(broker.kind, nc),
      sent: published.length,
      acknowledged: acknowledged.length,
      posts: { count: postKeys.length, duplicates: postKeys.length - new Set(postKeys).size },
      turns: { count: turnIds.length, duplicates: turnIds.length - new Set(turnIds).size },
      lost,
      notes: `${notes.join("; ")}; dead letters beyond one per message: ${deadPerMessage.reduce((a, n) => a + Math.max(0, n - 1), 0)}`,
    });
    expect(lost).toBe(0);
  });

  it("6b. property (3000 generated payloads, 3000 generated names): whatever parseEnvelope accepts is a v1 envelope with a valid sender, anything else is a one-line EnvelopeError; subject builders either build a wildcard-free subject or throw a one-line InvalidNameError", () => {
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
    // Real envelopes too (and the same with one field replaced), so the "parsed" branch is exercised.
    const identity = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/);
    const realEnv = fc
      .record({ from: identity, to: fc.oneof(identity, fc.constant("*")), body: anyJson, kind: fc.constantFrom("message" as const, "ask" as const, "event" as const, "job" as const) })
      .map((e) => newEnvelope({ from: e.from, to: e.to, kind: e.kind, body: e.body }) as unknown as Record<string, unknown>);
    const mutated = fc
      .tuple(realEnv, fc.constantFrom("v", "id", "from", "to", "time", "kind", "hops", "extra"), fc.jsonValue())
      .map(([e, k, v]) => ({ ...e, [k]: v }));
    // Counted inside the properties: what was really checked, not what was asked for.
    const payloads = { checked: 0, parsed: 0, refused: 0 };
    const parsing = fc.check(
      fc.property(
        fc.oneof(
          anyJson.map((j) => JSON.stringify(j)),
          envLike.map((e) => JSON.stringify(e)),
          realEnv.map((e) => JSON.stringify(e)),
          mutated.map((e) => JSON.stringify(e)),
          fc.string(),
          fc.uint8Array().map((b) => Buffer.from(b).toString("latin1")),
        ),
        (raw) => {
        payloads.checked++;
        let e: ReturnType<typeof parseEnvelope>;
        try {
          e = parseEnvelope(raw);
        } catch (err) {
          expect(err).toBeInstanceOf(EnvelopeError);
          expect((err as Error).message).not.toContain("\n");
          payloads.refused++;
          return;
        }
        // Whatever parses is a well-formed envelope.
        expect(e.v).toBe(1);
        expect(inboxSubject("nova", e.from)).toMatch(/^agent\.nova\.inbox\.[a-z0-9-]+$/);
        payloads.parsed++;
        },
      ),
      { numRuns: 3000 },
    );
    const fullUnicode = fc.string({ unit: "binary" });
    const names = { checked: 0, built: 0, refused: 0 };
    const building = fc.check(
      fc.property(fc.oneof(fc.string(), fullUnicode, fc.stringMatching(/^[a-z0-9-]{0,40}$/)), (name) => {
        names.checked++;
        for (const build of [() => inboxSubject(name, "nova"), () => inboxSubject("nova", name), () => eventSubject(name, "x"), () => replySubject("nova", name), () => jobSubject(name, [name])]) {
          let s: string;
          try {
            s = build();
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidNameError);
            expect((err as Error).message).not.toContain("\n");
            names.refused++;
            continue;
          }
          expect(s).toMatch(/^[a-z0-9+.-]+$/);
          expect(s.split(".").every((t) => t.length > 0 && t !== "*" && t !== ">")).toBe(true);
          names.built++;
        }
        // An envelope is built exactly when the name is a valid identity; otherwise a one-line EnvelopeError.
        let built: ReturnType<typeof newEnvelope> | undefined;
        try {
          built = newEnvelope({ from: name, to: "nova", kind: "message", body: "x" });
        } catch (err) {
          expect(err).toBeInstanceOf(EnvelopeError);
          expect((err as Error).message).not.toContain("\n");
        }
        expect(built?.from).toBe(isIdentity(name) ? name : undefined);
      }),
      { numRuns: 3000 },
    );
    recordProperty({
      scenario: "6b. parseEnvelope on generated payloads (fast-check)",
      inputs: payloads.checked,
      held: !parsing.failed,
      notes: `${parsing.numRuns} runs to a verdict; ${payloads.parsed} parsed to a v1 envelope with a valid sender, ${payloads.refused} refused with a one-line EnvelopeError`,
    });
    recordProperty({
      scenario: "6b. subject builders on generated names (fast-check)",
      inputs: names.checked,
      held: !building.failed,
      notes: `${building.numRuns} runs to a verdict; ${names.built + names.refused} builder calls: ${names.built} wildcard-free subjects built, ${names.refused} one-line InvalidNameErrors`,
    });
    expect(parsing.failed, fc.defaultReportMessage(parsing) ?? "").toBe(false);
    expect(building.failed, fc.defaultReportMessage(building) ?? "").toBe(false);
    expect(parsing.numRuns).toBe(3000);
    expect(building.numRuns).toBe(3000);
    // Both branches of each property ran (neither set of assertions was skipped by the inputs).
    expect(payloads.parsed).toBeGreaterThan(0);
    expect(payloads.refused).toBeGreaterThan(0);
    expect(names.built).toBeGreaterThan(0);
    expect(names.refused).toBeGreaterThan(0);
  });
});
