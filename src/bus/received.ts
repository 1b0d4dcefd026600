import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { parseEnvelope, type Envelope } from "../../subjects/mod.js";
import { backoffDelay, sleep, type BackoffPolicy } from "../base/backoff.js";
import type { Logger } from "../base/log.js";
import { waitReachable } from "../base/reachable.js";
import { safeNak, safeWorking } from "./acks.js";
import { deadLetterRefusal, type Refusal } from "./dead-letter.js";
import { storedAt } from "./stored-at.js";
import type { Check, Verdict } from "./verify.js";

/**
 * THE pipeline of a message a consumer took from a stream: the inbox, the job worker and the hook
 * runner each go through it, in this order, and add only what is theirs.
 *
 *   receive()         parse → the consumer's own checks → verify the sender (a registry that cannot
 *                     be read now: "wait", the message goes back and is checked again later)
 *   retryHolding()    retry with backoff while keeping the broker's claim alive; an endpoint that
 *                     could not be reached is probed, and retried as soon as it listens again
 *   refuse()          dead-letter with the reason, then ack; a dead letter that could not be stored
 *                     leaves the message for redelivery, so no evidence is lost
 *
 * consumeDurable (consume.ts) is the loop that brings the messages; acks.ts the acks that never throw.
 */

/** How long a message whose sender cannot be verified now waits before it is checked again. */
export const VERIFY_RETRY_MS = 5000;

/** What receive() made of a message: accepted, to be checked again later, or refused with a reason. */
export type Reception =
  | { ok: true; env: Envelope }
  | { ok: false; wait: true; reason: string; env: Envelope }
  | { ok: false; wait: false; reason: string; env?: Envelope };

export interface ReceiveOptions {
  /** The envelope (or why it is not one) when the consumer parsed it already (the inbox, for its lanes). */
  parsed?: Envelope | Error;
  /** The consumer's own checks, before the sender is verified: a reason refuses the message. */
  checks?: (env: Envelope) => string | undefined;
  /** The sender's verification (a secure mesh); absent: a parsed envelope that passes the checks is accepted. */
  verify?: (env: Envelope, check: Check) => Promise<Verdict>;
  /** What it is verified against (recipient, subject); `at` is when the broker stored it. */
  check?: Omit<Check, "at">;
}

/** Parses, checks and verifies a message: see {@link Reception}. Never throws. */
export async function receive(m: JsMsg, o: ReceiveOptions = {}): Promise<Reception> {
  let env: Envelope;
  try {
    if (o.parsed instanceof Error) throw o.parsed;
    env = o.parsed ?? parseEnvelope(m.data);
  } catch (err) {
    return { ok: false, wait: false, reason: `invalid envelope: ${(err as Error).message}` };
  }
  const refused = o.checks?.(env);
  if (refused) return { ok: false, wait: false, reason: refused, env };
  if (!o.verify) return { ok: true, env };
  let verdict: Verdict;
  try {
    verdict = await o.verify(env, { ...o.check, at: storedAt(m.info) });
  } catch (err) {
    return { ok: false, wait: true, reason: `verification failed: ${(err as Error).message}`, env };
  }
  if (verdict.ok) return { ok: true, env };
  return verdict.retry ? { ok: false, wait: true, reason: verdict.reason, env } : { ok: false, wait: false, reason: verdict.reason, env };
}

/** Gives a message whose sender cannot be verified now back to the broker, to be checked again later. */
export function waitForVerification(m: JsMsg, log: Logger, reason: string, what: Record<string, unknown> = {}): void {
  log.warn({ ...what, seq: m.seq, reason }, "cannot verify the sender now; the message waits");
  safeNak(m, VERIFY_RETRY_MS);
}

export interface RefuseOptions {
  nc: NatsConnection;
  self: string;
  /** The consumer: inbox, jobs, hooks (the dead letter's subject says it). */
  source: string;
  stream: string;
  log: Logger;
  reason: string;
  env?: Envelope | undefined;
  /**
   * Whose share of the dead letters it goes in: who the server let publish it (an inbox lane, an
   * event's subject), or a sender the record proves; absent: "unknown" (a claimed sender is not proof).
   */
  sender?: string | undefined;
  /** How the consumer acks once the evidence is kept (default: ackAck, confirmed by the broker). */
  ack?: (m: JsMsg, outcome: Exclude<Refusal, "not-stored">) => Promise<void> | void;
}

/**
 * Dead-letters a refused message with its reason, then acks it. A dead letter the broker did not
 * store ("not-stored") leaves the message for redelivery (nak, 5 s), so the refusal is tried again
 * with its evidence; a full share of the sender's dead letters ("share-full") drops it without a copy.
 */
export async function refuse(m: JsMsg, o: RefuseOptions): Promise<Refusal> {
  const outcome = await deadLetterRefusal(o.nc, o.self, o.source, m, {
    reason: o.reason,
    stream: o.stream,
    log: o.log,
    sender: o.sender,
    env: o.env,
  });
  if (outcome === "not-stored") {
    safeNak(m, VERIFY_RETRY_MS);
    return outcome;
  }
  if (o.ack) await o.ack(m, outcome);
  else await m.ackAck().catch(() => undefined);
  return outcome;
}

/** What retryHolding needs of an attempt's result (an AgentPort DeliveryResult is one). */
export type AttemptResult = { ok: true } | { ok: false; retryable: boolean; status?: number; reason: string };

export interface RetryOptions<R extends AttemptResult> {
  signal: AbortSignal;
  backoff?: BackoffPolicy;
  /** Gives up after this many attempts and returns the last result (default: never). */
  maxAttempts?: number;
  /** An unreachable endpoint (status 0): its wait ends as soon as this URL accepts connections again. */
  reachable?: string;
  /** Called before each wait with the failed result, its attempt number and the delay. */
  onRetry?: (r: Extract<R, { ok: false }>, attempt: number, delayMs: number) => void;
}

/**
 * Calls `attempt` until it succeeds, fails for good (not retryable) or runs out of attempts,
 * waiting with backoff between tries and keeping the broker's claim on `m` alive meanwhile. An
 * unreachable endpoint is retried within about a second of listening again, with the backoff
 * started over. Stopped (`signal`) while it waits to try again: the message goes back to the broker
 * at once (nak) and the answer is undefined (a result that is final is always returned).
 */
export async function retryHolding<R extends AttemptResult>(
  m: JsMsg,
  attempt: (n: number) => Promise<R>,
  o: RetryOptions<R>,
): Promise<{ result: R; attempts: number } | undefined> {
  // `step` is the backoff's: it starts over when an unreachable endpoint listens again.
  for (let n = 1, step = 1; ; n++, step++) {
    const result = await attempt(n);
    if (result.ok || !result.retryable || (o.maxAttempts !== undefined && n >= o.maxAttempts)) return { result, attempts: n };
    if (o.signal.aborted) {
      safeNak(m);
      return undefined;
    }
    const delay = backoffDelay(step, o.backoff);
    o.onRetry?.(result as Extract<R, { ok: false }>, n, delay);
    safeWorking(m);
    const waited =
      result.status === 0 && o.reachable ? await waitReachable(o.reachable, delay, o.signal) : (await sleep(delay, o.signal)) ? "waited" : "aborted";
    if (waited === "aborted") {
      safeNak(m);
      return undefined;
    }
    if (waited === "reachable") step = 0;
    safeWorking(m);
  }
}
