import { jetstream, type Consumer, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { backoffDelay, sleep } from "../backoff.js";
import type { Logger } from "../log.js";
import { safeNak } from "./acks.js";

/**
 * Consumes a durable consumer until `signal` aborts, resuming with backoff when the consumer or the
 * connection goes away (broker restart, consumer recreated). Written once for the inbox and the
 * hook rules. `onMessage` may await (one at a time) or return at once (its own concurrency).
 * `beforeFirst` runs once, with the consumer, before anything is pulled.
 */
export async function consumeDurable(o: {
  nc: NatsConnection;
  stream: string;
  consumer: string;
  maxMessages: number;
  signal: AbortSignal;
  log: Logger;
  label: string;
  onMessage: (m: JsMsg) => void | Promise<void>;
  beforeFirst?: (c: Consumer) => Promise<boolean>;
}): Promise<void> {
  const js = jetstream(o.nc);
  let failures = 0;
  let first = true;
  while (!o.signal.aborted) {
    try {
      const consumer = await js.consumers.get(o.stream, o.consumer);
      if (first) {
        first = false;
        if (o.beforeFirst && !(await o.beforeFirst(consumer))) break;
      }
      const messages = await consumer.consume({ max_messages: o.maxMessages });
      const onAbort = (): void => void messages.close();
      o.signal.addEventListener("abort", onAbort, { once: true });
      failures = 0;
      for await (const m of messages) {
        if (o.signal.aborted) {
          safeNak(m);
          break;
        }
        await o.onMessage(m);
      }
      o.signal.removeEventListener("abort", onAbort);
    } catch (err) {
      if (o.signal.aborted) break;
      failures++;
      o.log.warn({ consumer: o.label, err: (err as Error).message }, "consumer interrupted; resuming");
      await sleep(backoffDelay(failures, { initialMs: 500, maxMs: 10_000, factor: 2 }), o.signal);
    }
  }
}
