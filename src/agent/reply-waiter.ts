import { settleWithin } from "../base/backoff.js";
import type { Logger } from "../base/log.js";
import type { AgentPort, ReplyTicket, RunReply } from "./port.js";

/** The reply when there is no way to read one (the hooks bridge without the gateway token). */
const NO_READER: RunReply = { status: "error", error: "this sidecar cannot read replies (no gateway token configured)" };

/**
 * Waits, in the background, for the agent's reply to a turn it accepted and hands it to whoever
 * acts on it (an ask answers the asker, a conversation forwards the answer to the peer). Every wait
 * is tracked until its handler is done, so a stopping sidecar lets the ones in flight finish
 * ({@link drain}); a handler that throws is logged, never an unhandled rejection.
 */
export class ReplyWaiter {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly opts: { agent: AgentPort; timeoutMs: number; log: Logger }) {}

  /** Whether this agent can read replies at all. */
  get canRead(): boolean {
    return this.opts.agent.awaitReply !== undefined;
  }

  /**
   * Waits for the reply to `ticket` (none, or no way to read it: an error reply saying so) and
   * runs `handle` with it; `failure` names what failed in the log line ("could not <failure>").
   */
  wait(ticket: ReplyTicket | undefined, handle: (r: RunReply) => Promise<void> | void, log: { id: string; failure: string }): void {
    const p = (async () => {
      const r = ticket && this.opts.agent.awaitReply ? await this.opts.agent.awaitReply(ticket, this.opts.timeoutMs) : NO_READER;
      await handle(r);
    })()
      .catch((err: Error) => this.opts.log.error({ id: log.id, err: err.message }, `could not ${log.failure}`))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Waits (at most `timeoutMs`) for the waits still in flight. */
  async drain(timeoutMs = 2000): Promise<void> {
    await settleWithin(Promise.allSettled([...this.pending]), timeoutMs);
  }
}
