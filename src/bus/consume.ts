import { jetstream, type Consumer, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { RESUME_BACKOFF, backoffDelay, sleep } from "../base/backoff.js";
import type { Logger } from "../base/log.js";
import { safeNak } from "./acks.js";

/**
 * Free capacity shared by one or more pull loops (a job worker's concurrency): a loop pulls only
 * when a slot is free, so a busy worker never holds a message another worker could run.
 */
export interface Slots {
  free(): number;
  /** Resolves when a slot is free (at once if one is) or the signal aborts. */
  whenFree(signal: AbortSignal): Promise<void>;
}

/** A counting semaphore for `Slots`: `run` occupies a slot until its promise settles. */
export class SlotPool implements Slots {
  private readonly running = new Set<Promise<unknown>>();
  constructor(private readonly size: number) {}
  free(): number {
    return this.size - this.running.size;
  }
  async whenFree(signal: AbortSignal): Promise<void> {
    if (this.free() > 0 || signal.aborted) return;
    let onAbort = (): void => {};
    const aborted = new Promise<void>((r) => (onAbort = r));
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      while (this.free() <= 0 && !signal.aborted) await Promise.race([...this.running, aborted]);
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
  run(p: Promise<unknown>): void {
    const tracked = p.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }
}

export interface ConsumeOptions {
  nc: NatsConnection;
  /** The JetStream the stream is in (default: the connection's own; jobs: the hub's, see domain.ts). */
  js?: JetStreamClient;
  stream: string;
  consumer: string;
  signal: AbortSignal;
  log: Logger;
  label: string;
  /** May await (messages one at a time) or return at once (its own concurrency). */
  onMessage: (m: JsMsg) => void | Promise<void>;
  /** Without `slots`: how many messages the broker may push ahead (consume()). */
  maxMessages?: number;
  /** With `slots`: pull one message at a time, only while a slot is free (next()). */
  slots?: Slots;
  /** Runs once, with the consumer, before anything is pulled; false stops the loop. */
  beforeFirst?: (c: Consumer) => Promise<boolean>;
}

/**
 * THE durable pull loop of the mesh (inbox, jobs, hook rules): consumes until `signal` aborts,
 * resuming with backoff when the consumer or the connection goes away (broker restart, consumer
 * recreated). A message that arrives after the signal aborted, or when no slot is left, goes back
 * at once (nak).
 */
export async function consumeDurable(o: ConsumeOptions): Promise<void> {
  const js = o.js ?? jetstream(o.nc);
  let failures = 0;
  let first = true;
  while (!o.signal.aborted) {
    try {
      const consumer = await js.consumers.get(o.stream, o.consumer);
      if (o.signal.aborted) break;
      if (first) {
        first = false;
        if (o.beforeFirst && !(await o.beforeFirst(consumer))) break;
      }
      failures = 0;
      if (o.slots) await pullWithSlots(consumer, o.slots, o);
      else await consumeAll(consumer, o);
    } catch (err) {
      if (o.signal.aborted) break;
      failures++;
      o.log.warn({ consumer: o.label, err: (err as Error).message }, "consumer interrupted; resuming");
      await sleep(backoffDelay(failures, RESUME_BACKOFF), o.signal);
    }
  }
}

async function consumeAll(consumer: Consumer, o: ConsumeOptions): Promise<void> {
  const messages = await consumer.consume({ max_messages: o.maxMessages ?? 1 });
  // Stopped while consume() was being set up: the abort event has fired already and would never close it.
  // (Not awaited: close() of a consume that has not pulled yet does not settle.)
  if (o.signal.aborted) {
    void messages.close();
    return;
  }
  const onAbort = (): void => void messages.close();
  o.signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const m of messages) {
      if (o.signal.aborted) {
        safeNak(m);
        break;
      }
      await o.onMessage(m);
    }
  } finally {
    o.signal.removeEventListener("abort", onAbort);
  }
}

async function pullWithSlots(consumer: Consumer, slots: Slots, o: ConsumeOptions): Promise<void> {
  while (!o.signal.aborted) {
    await slots.whenFree(o.signal);
    if (o.signal.aborted) return;
    const m = await consumer.next({ expires: 5000 });
    if (!m) continue;
    if (slots.free() <= 0 || o.signal.aborted) {
      // Another loop filled the last slot meanwhile: give it straight back to the queue.
      safeNak(m);
      continue;
    }
    await o.onMessage(m);
  }
}
