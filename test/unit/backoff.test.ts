import { describe, expect, it } from "vitest";
import { pollDelay, pollUntil } from "../../src/base/backoff.js";
import { createServer, type AddressInfo } from "node:net";
import { acceptsConnections, waitReachable } from "../../src/base/reachable.js";

describe("pollUntil", () => {
  it("calls the probe until it answers, waiting pollDelay between calls (25, 50 ms), and returns the answer", async () => {
    const calls: number[] = [];
    const started = Date.now();
    const r = await pollUntil(async (attempt) => (calls.push(attempt), attempt === 2 ? { value: "done" } : undefined), { deadline: Date.now() + 5_000 });
    const took = Date.now() - started;
    expect(r).toEqual({ value: "done" });
    expect(calls).toEqual([0, 1, 2]);
    // 25 + 50 ms of waiting at least; 1 s of margin for a busy machine.
    expect(pollDelay(0) + pollDelay(1)).toBe(75);
    expect(took).toBeGreaterThanOrEqual(70);
    expect(took).toBeLessThan(1_075);
  });

  it("an answer of undefined (the value) is an answer, not 'not yet'", async () => {
    expect(await pollUntil(async () => ({ value: undefined }), { deadline: Date.now() + 1_000 })).toEqual({ value: undefined });
  });

  it("'deadline' once the deadline passed after a call; the last wait is cut to the deadline", async () => {
    let calls = 0;
    const started = Date.now();
    const r = await pollUntil(async () => void calls++, { deadline: Date.now() + 120, delay: () => 1_000 });
    const took = Date.now() - started;
    expect(r).toBe("deadline");
    expect(calls).toBe(2);
    expect(took).toBeGreaterThanOrEqual(115);
    expect(took).toBeLessThan(900);
  });

  it("'aborted' when the signal aborts while it waits, without another call; at once when aborted before", async () => {
    const ac = new AbortController();
    let calls = 0;
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    expect(await pollUntil(async () => void calls++, { deadline: Date.now() + 10_000, signal: ac.signal, delay: () => 5_000 })).toBe("aborted");
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await pollUntil(async () => void calls++, { deadline: Date.now() + 10_000, signal: ac.signal })).toBe("aborted");
    expect(calls).toBe(1);
  });

  it("a wake hint ends the wait in progress: the next call comes at once (not after the 5 s delay), the delays start over from attempt 0, and the hint is unsubscribed when it ends", async () => {
    let hint: (() => void) | undefined;
    let unsubscribed = false;
    const delays: number[] = [];
    const calls: number[] = [];
    const started = Date.now();
    setTimeout(() => hint?.(), 50);
    const r = await pollUntil(async (attempt) => (calls.push(attempt), calls.length === 2 ? { value: "woken" } : undefined), {
      deadline: Date.now() + 10_000,
      delay: (attempt) => (delays.push(attempt), 5_000),
      wake: (h) => {
        hint = h;
        return () => void (unsubscribed = true);
      },
    });
    expect(r).toEqual({ value: "woken" });
    expect(calls).toEqual([0, 0]);
    expect(delays).toEqual([0]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(unsubscribed).toBe(true);
  });

  it("a hint that comes while a call runs makes the next call come at once, with no wait", async () => {
    let hint: (() => void) | undefined;
    const delays: number[] = [];
    const calls: number[] = [];
    const r = await pollUntil(
      async (attempt) => {
        calls.push(attempt);
        if (calls.length === 1) hint?.();
        return calls.length === 2 ? { value: "again" } : undefined;
      },
      { deadline: Date.now() + 10_000, delay: (attempt) => (delays.push(attempt), 5_000), wake: (h) => ((hint = h), () => undefined) },
    );
    expect(r).toEqual({ value: "again" });
    expect(calls).toEqual([0, 0]);
    expect(delays).toEqual([]);
  });
});

describe("waitReachable (retrying a gateway that was unreachable)", () => {
  // A port that was free a moment ago: nothing listens on it until the test opens it.
  async function freePort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }

  it("ends with 'reachable' once the port accepts connections, long before the delay it was given (10 s)", async () => {
    const port = await freePort();
    const server = createServer();
    const opened = setTimeout(() => server.listen(port, "127.0.0.1"), 300);
    const t0 = Date.now();
    const r = await waitReachable(`http://127.0.0.1:${port}`, 10_000);
    const took = Date.now() - t0;
    clearTimeout(opened);
    server.close();
    expect(r).toBe("reachable");
    // It probes every REACHABLE_PROBE_MS (1 s): the listener opened at 300 ms is found at the first or second probe.
    expect(took).toBeLessThan(10_000 - 5_000);
  });

  it("ends with 'waited' after the full delay when nothing listens, and 'aborted' when its signal aborts", async () => {
    const port = await freePort();
    const t0 = Date.now();
    expect(await waitReachable(`http://127.0.0.1:${port}`, 1_500)).toBe("waited");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_490);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    expect(await waitReachable(`http://127.0.0.1:${port}`, 10_000, ac.signal)).toBe("aborted");
  });

  it("acceptsConnections: true for a listening port, false for a closed one and for a malformed URL", async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    expect(await acceptsConnections(`http://127.0.0.1:${port}/x`)).toBe(true);
    await new Promise<void>((r) => server.close(() => r()));
    expect(await acceptsConnections(`http://127.0.0.1:${port}/x`)).toBe(false);
    expect(await acceptsConnections("not a url")).toBe(false);
  });
});
