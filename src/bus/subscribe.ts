import { storedAt } from "./stored-at.js";
import { DeliverPolicy, jetstreamManager, jetstream, type ConsumerMessages, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { ALL_EVENTS, historyStreamName, isIdentity, parseEnvelope, type Envelope } from "../../subjects/mod.js";
import { MeshError } from "../base/errors.js";
import { firstLine, isNotFound, permissionDenied } from "../base/nats-errors.js";
import { replayDirect } from "./replay.js";
import { overlaps } from "./subject-match.js";

export interface SeenMessage {
  subject: string;
  data: Uint8Array;
  stream?: string;
  seq?: number;
  /** Time the broker stored it (replayed messages) or received it here (live). */
  time: Date;
  envelope?: Envelope;
}

export interface SubscribeOptions {
  /**
   * This connection's identity, if known: its own events (`events.<self>.…`) are replayed from its
   * history (HISTORY-<self>), which no other identity's flood reaches. Without it, any identity
   * named in the pattern is tried (the admin reads every history; others fall back to EVENTS).
   */
  self?: string;
  last?: number;
  sinceMs?: number;
  /** Stop after this many messages. */
  count?: number;
  signal?: AbortSignal;
}


function decode(m: Omit<SeenMessage, "envelope">): SeenMessage {
  try {
    return { ...m, envelope: parseEnvelope(m.data) };
  } catch {
    return m;
  }
}

export { overlaps } from "./subject-match.js";

/**
 * While a direct replay follows new messages: a live subscription on the pattern wakes it at once
 * when the pattern is within events.> (which every identity may subscribe to); elsewhere it polls.
 */
function wakeOn(nc: NatsConnection, pattern: string, closers: Array<() => void>): (() => Promise<void>) | undefined {
  if (!overlaps(pattern, ALL_EVENTS) || !pattern.startsWith("events.")) return undefined;
  const sub = nc.subscribe(pattern);
  closers.push(() => sub.unsubscribe());
  let waiting: (() => void) | undefined;
  void (async () => {
    for await (const _ of sub) waiting?.();
  })().catch(() => undefined);
  return () => new Promise<void>((resolve) => (waiting = resolve));
}

/**
 * The history stream to replay a pattern of one identity's events from (`events.<id>.…`, <id>
 * literal): HISTORY-<id> when this connection may read it, else undefined (EVENTS is read).
 */
async function historyOf(jsm: JetStreamManager, pattern: string, self: string | undefined): Promise<string | undefined> {
  const [root, who] = pattern.split(".");
  if (root !== "events" || !who || who === "*" || who === ">" || !isIdentity(who)) return undefined;
  if (self !== undefined && self !== who) return undefined;
  const name = historyStreamName(who);
  try {
    await jsm.streams.info(name);
    return name;
  } catch (err) {
    if (isNotFound(err) || permissionDenied(err)) return undefined;
    throw err;
  }
}

/**
 * Live + replay. With last/since: every stream the pattern touches (or the identity's own
 * HISTORY-<id>), by direct get where the stream allows it, and with an ordered consumer only on
 * one that does not (an identity's own dead letters).
 */
export async function subscribe(
  nc: NatsConnection,
  pattern: string,
  opts: SubscribeOptions,
  onMessage: (m: SeenMessage) => void,
): Promise<void> {
  const replay = opts.last !== undefined || opts.sinceMs !== undefined;
  let seen = 0;
  const closers: Array<() => void> = [];
  let finish: () => void = () => {};
  let fail: (err: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = (err) => reject(new MeshError(permissionDenied(err) ? `not allowed: ${firstLine(err)}` : firstLine(err)));
  });
  const deliver = (m: SeenMessage): void => {
    if (opts.count !== undefined && seen >= opts.count) return;
    seen++;
    onMessage(m);
    if (opts.count !== undefined && seen >= opts.count) finish();
  };
  opts.signal?.addEventListener("abort", () => finish());
  const stopSignal = new AbortController();

  if (!replay) {
    const sub: Subscription = nc.subscribe(pattern);
    closers.push(() => sub.unsubscribe());
    void (async () => {
      for await (const m of sub) deliver(decode({ subject: m.subject, data: m.data, time: new Date() }));
    })().catch(fail);
    // A permission violation arrives asynchronously on the connection.
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "error") fail(s.error as Error);
      }
    })().catch(() => undefined);
  } else {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const streams: string[] = [];
    const history = await historyOf(jsm, pattern, opts.self);
    if (history) streams.push(history);
    // Stream names by subject (the server matches the pattern): STREAM.NAMES, which every
    // identity may call, where STREAM.LIST would show other identities' streams' state.
    else for await (const name of jsm.streams.names(pattern)) streams.push(name);
    if (streams.length === 0) {
      throw new MeshError(`no stream stores ${pattern}, so there is nothing to replay (drop --last/--since for live messages)`);
    }
    for (const stream of streams) {
      if (stream === "JOBS" || stream.startsWith("KV_")) continue;
      const info = await jsm.streams.info(stream, { subjects_filter: pattern });
      if (info.config.allow_direct) {
        // By direct get, holding no consumer: the only way an identity may read a shared stream
        // (src/bus/replay.ts says why).
        const wake = wakeOn(nc, pattern, closers);
        void replayDirect(
          nc,
          stream,
          { pattern, last: opts.last, sinceMs: opts.sinceMs, follow: true, signal: stopSignal.signal, wake },
          (m) => deliver(decode({ subject: m.subject, data: m.data, stream, seq: m.seq, time: m.time })),
        ).catch(fail);
        continue;
      }
      // A stream without direct gets (an identity's own dead letters): an ordered consumer.
      const matching = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
      const skip = opts.last !== undefined ? Math.max(0, matching - opts.last) : 0;
      const consumer = await js.consumers.get(stream, {
        filter_subjects: pattern, // a string, not an array: nats-server 2.9 takes one filter
        ...(opts.sinceMs !== undefined
          ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Date.now() - opts.sinceMs).toISOString() }
          : { deliver_policy: DeliverPolicy.All }),
      });
      const iter: ConsumerMessages = await consumer.consume();
      closers.push(() => void iter.close());
      let skipped = 0;
      void (async () => {
        for await (const m of iter) {
          if (skipped < skip) {
            skipped++;
            continue;
          }
          deliver(
            decode({ subject: m.subject, data: m.data, stream, seq: m.seq, time: storedAt(m.info) }),
          );
        }
      })().catch(fail);
    }
  }
  await done;
  stopSignal.abort();
  for (const close of closers) close();
}
