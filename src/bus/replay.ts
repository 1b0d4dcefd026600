import { jetstreamManager, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { sleep } from "../base/backoff.js";
import { overlaps } from "./subject-match.js";

/**
 * Replay of a stream by direct get (`$JS.API.DIRECT.GET.<stream>`), without a consumer. A
 * consumer is a slot of the stream (`max_consumers`) and, on nats-server 2.9, its inactivity
 * threshold is the client's to set: on a shared stream (EVENTS) one identity could hold every slot
 * with consumers that never expire. A direct get holds nothing on the server, so identities read
 * the shared streams only this way (broker/permissions.ts grants them no consumer there).
 *
 * 2.9 has no batched direct get (2.11+), so this is one request per message: `next_by_subj` from a
 * cursor, which the server answers with the first matching message at or after it. Where most of
 * the stream matches (`events.>` on EVENTS), up to SCAN_WINDOW sequence numbers are asked for side
 * by side instead, and the few that do not match are skipped here.
 */
export interface DirectReplayOptions {
  pattern: string;
  /** Start with the last N matching messages. */
  last?: number;
  /** Start with what was stored in the last this-many milliseconds. */
  sinceMs?: number;
  /** After the stored messages, keep delivering new ones as they are stored (until the signal). */
  follow?: boolean;
  signal?: AbortSignal;
  /** While following: how often to look for new messages when nothing wakes the reader. */
  pollMs?: number;
  /** While following: resolves when something new may have been stored (a live message on the pattern). */
  wake?: () => Promise<void>;
  /** Stop after delivering this many. */
  max?: number;
}

/** How many sequence numbers a `--last` scan asks for at once (single gets, side by side). */
const SCAN_WINDOW = 64;

async function next(jsm: JetStreamManager, stream: string, seq: number, pattern: string): Promise<StoredMsg | null> {
  return jsm.direct.getMessage(stream, { seq, next_by_subj: pattern });
}

/** The first sequence whose next matching message was stored at or after `since` (binary search). */
async function firstSince(jsm: JetStreamManager, stream: string, pattern: string, from: number, to: number, since: number): Promise<number> {
  let lo = from;
  let hi = to + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const m = await next(jsm, stream, mid, pattern);
    if (!m || m.time.getTime() >= since) hi = mid;
    else lo = m.seq + 1;
  }
  return lo;
}

/** The sequence of the N-th matching message from the end (scanning back from `to` in windows), or `from`. */
async function lastN(jsm: JetStreamManager, stream: string, pattern: string, from: number, to: number, n: number): Promise<number> {
  if (n <= 0) return to + 1;
  let found = 0;
  for (let hi = to; hi >= from; hi -= SCAN_WINDOW) {
    const seqs: number[] = [];
    for (let s = hi; s > hi - SCAN_WINDOW && s >= from; s--) seqs.push(s);
    const got = await Promise.all(seqs.map((seq) => jsm.direct.getMessage(stream, { seq })));
    for (const m of got) {
      if (m && overlaps(m.subject, pattern) && ++found === n) return m.seq;
    }
  }
  return from;
}

/**
 * Delivers the stored messages of `stream` matching the pattern, in stream order, from the start
 * the options choose; with `follow`, then the new ones as they are stored. Returns when the
 * stored ones are delivered (without follow), or when the signal aborts.
 */
export async function replayDirect(
  nc: NatsConnection,
  stream: string,
  opts: DirectReplayOptions,
  deliver: (m: StoredMsg) => void,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: opts.pattern });
  const { first_seq: first, last_seq: lastSeq } = info.state;
  const matching = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  let cursor = first;
  if (info.state.messages === 0) cursor = lastSeq + 1;
  else if (opts.sinceMs !== undefined) cursor = await firstSince(jsm, stream, opts.pattern, first, lastSeq, Date.now() - opts.sinceMs);
  else if (opts.last !== undefined) cursor = matching <= opts.last ? first : await lastN(jsm, stream, opts.pattern, first, lastSeq, opts.last);
  const stopped = (): boolean => opts.signal?.aborted === true;
  const dense = matching * 2 >= info.state.messages;
  let delivered = 0;
  const give = (m: StoredMsg): boolean => {
    deliver(m);
    cursor = m.seq + 1;
    return opts.max !== undefined && ++delivered >= opts.max;
  };
  while (!stopped()) {
    if (dense && cursor <= lastSeq) {
      const seqs: number[] = [];
      for (let s = cursor; s < cursor + SCAN_WINDOW && s <= lastSeq; s++) seqs.push(s);
      const got = await Promise.all(seqs.map((seq) => jsm.direct.getMessage(stream, { seq })));
      let full = false;
      for (const m of got) if (m && overlaps(m.subject, opts.pattern) && (full = give(m))) break;
      if (full) return;
      cursor = Math.max(cursor, seqs[seqs.length - 1]! + 1);
      continue;
    }
    const m = await next(jsm, stream, cursor, opts.pattern);
    if (m) {
      if (give(m)) return;
      continue;
    }
    if (!opts.follow) return;
    // Woken by a live message, or after pollMs (base/backoff.ts sleep: its abort listener is removed each time).
    await Promise.race([sleep(opts.pollMs ?? 1000, opts.signal), ...(opts.wake ? [opts.wake()] : [])]);
  }
}
