import type { NatsConnection } from "@nats-io/nats-core";
import { inboxSubject, newEnvelope } from "../../subjects/mod.js";
import { publishEnvelope } from "../../src/bus/publish.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { keyOf } from "./tally.js";

/**
 * A steady stream of inbox messages from several senders; every publish is retried (same id, so
 * the broker stores it once) until acknowledged. Keys are `<sender>:<n>`.
 */
export async function stream(
  nc: NatsConnection,
  o: { to: string; n: number; ratePerSec: number; senders: string[]; during?: (i: number) => Promise<void> | void },
): Promise<{ sent: number; acked: string[]; ackedAt: Map<string, number>; maxPauseMs: number }> {
  const acked: string[] = [];
  /** Wall-clock time (Date.now()) each key's publish was acknowledged. */
  const ackedAt = new Map<string, number>();
  let lastAck = performance.now();
  let maxPauseMs = 0;
  const start = performance.now();
  for (let i = 0; i < o.n; i++) {
    const due = start + (i * 1000) / o.ratePerSec;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await o.during?.(i);
    const from = o.senders[i % o.senders.length]!;
    const key = `${from}:${Math.floor(i / o.senders.length)}`;
    const env = newEnvelope({ from, to: o.to, kind: "message", body: `#${key}# fault stream` });
    for (let attempt = 0; ; attempt++) {
      try {
        await publishEnvelope(nc, inboxSubject(o.to, from), env);
        const now = performance.now();
        maxPauseMs = Math.max(maxPauseMs, now - lastAck);
        lastAck = now;
        acked.push(key);
        ackedAt.set(key, Date.now());
        break;
      } catch {
        if (attempt > 600) throw new Error(`publish of ${key} never acknowledged`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  return { sent: o.n, acked, ackedAt, maxPauseMs: Math.round(maxPauseMs) };
}

/** The stream keys of the agent turns the gateway started, in arrival order (a replayed POST is not a turn). */
export function keysSeen(hooks: HooksEndpoint): string[] {
  return hooks.received.map((h) => keyOf(h.body.message)).filter((k): k is string => Boolean(k));
}

/** When each key's first turn started (Date.now() at the gateway). */
export function firstTurnAt(hooks: HooksEndpoint): Map<string, number> {
  const at = new Map<string, number>();
  for (const h of hooks.received) {
    const k = keyOf(h.body.message);
    if (k !== undefined && !at.has(k)) at.set(k, h.at);
  }
  return at;
}

/** Per-sender order: each sender's keys appear in increasing order (first delivery of each). */
export function inOrder(keys: string[]): boolean {
  const last = new Map<string, number>();
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) continue;
    seen.add(k);
    const [s, n] = k.split(":");
    const v = Number(n);
    if ((last.get(s!) ?? -1) >= v) return false;
    last.set(s!, v);
  }
  return true;
}

export async function waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
