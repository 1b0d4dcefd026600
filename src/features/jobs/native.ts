import type { NatsConnection } from "@nats-io/nats-core";
import { parseJobPeer, parsePinLine, type JobRecord } from "../../../subjects/mod.js";
import { backoffDelay, sleep, settleWithin } from "../../base/backoff.js";
import type { Logger } from "../../base/log.js";
import type { AgentPort } from "../../agent/port.js";
import { submitJob, waitForJob } from "./client.js";
import { resolvePin } from "../repos/checkout.js";
import type { RepoConfig } from "../repos/config.js";

/**
 * Jobs an agent submits from its own gateway, without `mesh`: it sends `a2a:jobs.<queue>[.<caps>]`
 * (a job peer of the gateway's A2A channel, see subjects/session-keys.ts), the gateway POSTs
 * SendMessage to this sidecar's endpoint, and this submits the text as a job of this identity.
 * OpenClaw's outbound a2a is fire-and-forget, so the result goes back the only way an answer can:
 * a new inbound message from that job peer, in the same conversation (contextId) it came from.
 * The wait is in memory: after a sidecar restart the result is still in `mesh job status <id>`.
 */
export interface NativeJobsOptions {
  nc: NatsConnection;
  self: string;
  agent: AgentPort;
  log: Logger;
  /** This Mac's clones (config `repos`): a pinned job names one of them. */
  repos?: RepoConfig[];
  /** How long a job is waited for before the conversation hears "not finished yet" (default 2 h). */
  waitMs?: number;
}

interface Tracked {
  peer: string;
  context: string;
  answer?: string;
}

const MAX_TRACKED = 1000;

export class NativeJobs {
  private readonly tracked = new Map<string, Tracked>();
  private readonly pending = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  readonly stats = { submitted: 0, answered: 0, undelivered: 0 };

  constructor(private readonly opts: NativeJobsOptions) {}

  /** True for a job peer's name (`jobs.default.gpu`). */
  static handles(peer: string): boolean {
    return parseJobPeer(peer) !== undefined;
  }

  /** Submits `text` as a job for `peer`'s queue and needs; resolves with the job id once it is queued. */
  async submit(peer: string, text: string, context: string): Promise<{ id: string; context: string }> {
    const spec = parseJobPeer(peer);
    if (!spec) throw new Error(`${peer} is not a job peer (jobs.<queue> or jobs.<queue>.<capability>[_<capability>…])`);
    // A first line `[repo cackles at main]` pins the job to that commit, as `mesh job submit --repo --at` does.
    const { pin, task } = parsePinLine(text);
    const pinned = pin ? await resolvePin(this.opts.repos ?? [], pin.repo, pin.at) : undefined;
    const job = await submitJob(this.opts.nc, { from: this.opts.self, task, queue: spec.queue, needs: spec.needs, ...(pinned ? { pin: pinned } : {}) });
    this.stats.submitted++;
    this.opts.log.info({ id: job.id, peer, queue: spec.queue, needs: spec.needs }, "job submitted by the agent (a2a)");
    this.tracked.set(job.id, { peer, context });
    if (this.tracked.size > MAX_TRACKED) this.tracked.delete(this.tracked.keys().next().value as string);
    const p = this.follow(job.id, peer, context)
      .catch((err: Error) => this.opts.log.error({ id: job.id, err: err.message }, "could not return a job's result to the agent"))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
    return { id: job.id, context };
  }

  /** What became of a job submitted here: working until it finished (for A2A GetTask). */
  task(id: string): { peer: string; context: string; answer?: string } | undefined {
    return this.tracked.get(id);
  }

  private async follow(id: string, peer: string, context: string): Promise<void> {
    let text: string;
    try {
      text = resultText(await waitForJob(this.opts.nc, id, this.opts.waitMs ?? 2 * 3600_000));
    } catch (err) {
      if (this.stopping.signal.aborted) return;
      text = `[mesh job ${id}] no result yet: ${(err as Error).message}`;
    }
    const t = this.tracked.get(id);
    if (t) t.answer = text;
    // Into the conversation it came from, as a message from the job peer; retried while the
    // gateway is down or its A2A channel reloads.
    for (let i = 1; !this.stopping.signal.aborted; i++) {
      const r = await this.opts.agent.deliver({ id: `jobres-${id}`, from: peer, kind: "message", text, context }, { signal: this.stopping.signal });
      if (r.ok) {
        this.stats.answered++;
        this.opts.log.info({ id, peer, context }, "job result returned to the agent's conversation");
        return;
      }
      if (!r.retryable || i >= 40) {
        this.stats.undelivered++;
        this.opts.log.warn({ id, peer, reason: r.reason }, `job result not returned to the agent (it stays in \`mesh job status ${id}\`)`);
        return;
      }
      await sleep(backoffDelay(i), this.stopping.signal);
    }
  }

  async stop(timeoutMs = 2000): Promise<void> {
    this.stopping.abort();
    await settleWithin(Promise.allSettled([...this.pending]), timeoutMs);
  }
}

/** The message that brings a job's outcome back: what happened, where, then the result as the worker's agent wrote it. */
export function resultText(r: JobRecord): string {
  const where = r.worker ? ` on ${r.worker}` : "";
  switch (r.state) {
    case "done":
      return `[mesh job ${r.id} done${where}]\n\n${r.result ?? ""}`;
    case "failed":
      return `[mesh job ${r.id} failed${where} after ${r.attempts} attempt${r.attempts === 1 ? "" : "s"}: ${r.error ?? "no reason given"}]`;
    default:
      return `[mesh job ${r.id} ${r.state}${where}: ${r.error ?? ""}]`;
  }
}
