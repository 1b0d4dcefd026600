import { createServer, type AddressInfo, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { JsMsg } from "@nats-io/jetstream";
import { receive, retryHolding, type AttemptResult } from "../../src/bus/received.js";
import { newEnvelope } from "../../subjects/mod.js";

/** What the pipeline did to a message's claim: in-progress acks and naks, in order. */
function fakeMsg(data: Uint8Array = new Uint8Array()): { m: JsMsg; calls: string[] } {
  const calls: string[] = [];
  const m = {
    data,
    seq: 1,
    subject: "agent.clawd.inbox.nova",
    info: { timestampNanos: Date.now() * 1e6 },
    working: () => void calls.push("working"),
    nak: (ms?: number) => void calls.push(`nak${ms === undefined ? "" : `:${ms}`}`),
  } as unknown as JsMsg;
  return { m, calls };
}

const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

describe("receive: parse → the consumer's checks → verify", () => {
  const env = newEnvelope({ from: "nova", to: "clawd", kind: "message", body: { text: "hi" } });

  it("bytes that are not an envelope are refused with the parser's reason, before checks or verification run", async () => {
    let checked = 0;
    let verified = 0;
    const r = await receive(fakeMsg(new TextEncoder().encode("{not json")).m, {
      checks: () => (checked++, undefined),
      verify: async () => (verified++, { ok: true }),
    });
    expect(r).toEqual({ ok: false, wait: false, reason: "invalid envelope: not JSON" });
    expect([checked, verified]).toEqual([0, 0]);
  });

  it("a check's reason refuses the message before its sender is verified", async () => {
    let verified = 0;
    const r = await receive(fakeMsg(encode(env)).m, { checks: () => "addressed to nova, not clawd", verify: async () => (verified++, { ok: true }) });
    expect(r).toMatchObject({ ok: false, wait: false, reason: "addressed to nova, not clawd", env: { id: env.id } });
    expect(verified).toBe(0);
  });

  it("verification gets the consumer's binding and the broker's store time; a retry verdict waits, a failed one refuses, a thrown one waits", async () => {
    const { m } = fakeMsg(encode(env));
    const seen: unknown[] = [];
    const ok = await receive(m, { verify: async (_e, check) => (seen.push(check), { ok: true }), check: { to: "clawd", subject: m.subject, subjectNames: "to" } });
    expect(ok).toMatchObject({ ok: true, env: { id: env.id } });
    expect(seen).toEqual([{ to: "clawd", subject: m.subject, subjectNames: "to", at: new Date(Math.floor(Number(m.info.timestampNanos) / 1e6)) }]);
    expect(await receive(m, { verify: async () => ({ ok: false, retry: true, reason: "registry unreadable" }) })).toMatchObject({ ok: false, wait: true, reason: "registry unreadable" });
    expect(await receive(m, { verify: async () => ({ ok: false, reason: "bad signature" }) })).toMatchObject({ ok: false, wait: false, reason: "bad signature" });
    expect(
      await receive(m, {
        verify: async () => {
          throw new Error("connection closed");
        },
      }),
    ).toMatchObject({ ok: false, wait: true, reason: "verification failed: connection closed" });
  });
});

describe("retryHolding: backoff with the claim kept alive", () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  const down = (reason = "unreachable"): AttemptResult => ({ ok: false, retryable: true, status: 0, reason });

  it("retries a retryable failure, keeping the claim alive around each wait, and returns the success with its attempt count", async () => {
    const { m, calls } = fakeMsg();
    const retries: number[] = [];
    const r = await retryHolding(m, async (n) => (n < 3 ? { ok: false, retryable: true, status: 503, reason: "HTTP 503" } : { ok: true }), {
      signal: new AbortController().signal,
      backoff: { initialMs: 10, maxMs: 10, factor: 1 },
      onRetry: (_r, n) => retries.push(n),
    });
    expect(r).toEqual({ result: { ok: true }, attempts: 3 });
    expect(retries).toEqual([1, 2]);
    expect(calls).toEqual(["working", "working", "working", "working"]);
  });

  it("a failure that is not retryable, or the last of maxAttempts, is returned at once", async () => {
    const { m } = fakeMsg();
    const signal = new AbortController().signal;
    expect(await retryHolding(m, async () => ({ ok: false, retryable: false, status: 400, reason: "HTTP 400" }), { signal })).toEqual({
      result: { ok: false, retryable: false, status: 400, reason: "HTTP 400" },
      attempts: 1,
    });
    let n = 0;
    const r = await retryHolding(m, async () => (n++, down()), { signal, maxAttempts: 2, backoff: { initialMs: 5, maxMs: 5, factor: 1 } });
    expect(r?.attempts).toBe(2);
    expect(n).toBe(2);
  });

  it("stopped while waiting to try again: the message goes back at once (nak) and the answer is undefined", async () => {
    const { m, calls } = fakeMsg();
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    const r = await retryHolding(m, async () => ({ ok: false, retryable: true, status: 503, reason: "HTTP 503" }), { signal: stop.signal, backoff: { initialMs: 60_000, maxMs: 60_000, factor: 1 } });
    expect(r).toBeUndefined();
    expect(calls).toEqual(["working", "nak"]);
  });

  it("an unreachable endpoint is tried again as soon as it listens, not at the end of a 60 s backoff", async () => {
    // A port that nothing listens on yet; the endpoint starts listening 300 ms into the first wait.
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server!.close(() => r()));
    const url = `http://127.0.0.1:${port}/`;
    const { m } = fakeMsg();
    const started = Date.now();
    let listening = false;
    setTimeout(() => {
      server = createServer((s) => s.destroy());
      server.listen(port, "127.0.0.1", () => (listening = true));
    }, 300);
    const r = await retryHolding(m, async () => (listening ? { ok: true } : down()), {
      signal: new AbortController().signal,
      backoff: { initialMs: 60_000, maxMs: 60_000, factor: 1 },
      reachable: url,
    });
    const took = Date.now() - started;
    expect(r).toEqual({ result: { ok: true }, attempts: 2 });
    // The probe runs every second: about 1 s; 30 s of margin below the 60 s backoff on a busy machine.
    expect(took).toBeLessThan(30_000);
  });
});
