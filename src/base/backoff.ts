/**
 * Retry delays, written once and shared (inbox delivery, hook actions, jobs):
 * exponential from `initialMs`, capped at `maxMs`, with ±20 % jitter so many sidecars
 * do not retry in lockstep.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
}

/** Retrying a delivery (a gateway POST, a hook action). */
export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 15_000, factor: 2 };

/** Reconnecting or resuming a long-lived loop (a consumer, the gateway WebSocket). */
export const RESUME_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 10_000, factor: 2 };

export function backoffDelay(attempt: number, p: BackoffPolicy = DEFAULT_BACKOFF): number {
  const base = Math.min(p.maxMs, p.initialMs * p.factor ** Math.max(0, attempt - 1));
  const jitter = base * 0.2 * (Math.random() * 2 - 1);
  return Math.max(0, Math.round(base + jitter));
}

/**
 * Polling a cheap loopback call whose answer is the latency (an A2A GetTask): 25, 50, 100, 200 ms,
 * then every 250 ms. No jitter: one poller per task.
 */
export function pollDelay(attempt: number): number {
  return Math.min(250, 25 * 2 ** Math.min(Math.max(0, attempt), 4));
}

/**
 * Calls `probe` (attempt 0, 1, …) until it answers `{ value }`, with {@link pollDelay} between calls
 * (or `delay`): "deadline" once `deadline` (ms since epoch) has passed after a call, "aborted" when
 * the signal aborts (before a call or while waiting). `undefined` from `probe` means "not yet".
 * `wake` subscribes to a hint that the answer may be there now (e.g. the gateway said a turn
 * ended): the wait in progress ends at once and the delays start over from attempt 0.
 */
export async function pollUntil<T>(
  probe: (attempt: number) => Promise<{ value: T } | undefined>,
  o: { deadline: number; signal?: AbortSignal; delay?: (attempt: number) => number; wake?: (hint: () => void) => () => void },
): Promise<{ value: T } | "deadline" | "aborted"> {
  let woken = false;
  let interrupt: (() => void) | undefined;
  const unsubscribe = o.wake?.(() => {
    woken = true;
    interrupt?.();
  });
  // Set when a wait ran to the deadline: the call after it is the last (a timer may fire a
  // millisecond before Date.now() reaches the deadline; that must not buy another call).
  let last = false;
  try {
    for (let attempt = 0; ; attempt++) {
      if (o.signal?.aborted) return "aborted";
      woken = false;
      const r = await probe(attempt);
      if (r) return r;
      const left = o.deadline - Date.now();
      if (left <= 0 || last) return "deadline";
      if (woken) {
        // The hint came while the probe ran: probe again at once, then the short delays again.
        attempt = -1;
        continue;
      }
      const cut = new AbortController();
      interrupt = () => cut.abort();
      const wait = Math.min(left, (o.delay ?? pollDelay)(attempt));
      const slept = await sleep(wait, o.signal ? AbortSignal.any([o.signal, cut.signal]) : cut.signal);
      interrupt = undefined;
      if (!slept) {
        if (o.signal?.aborted) return "aborted";
        attempt = -1;
      } else if (wait === left) last = true;
    }
  } finally {
    unsubscribe?.();
  }
}

/** Waits for `p`, or at most `ms`; the timer never keeps the process alive afterwards. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

/** Sleeps, waking early (resolving false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
