import { AgentEvent, type AgentExecutionEvent, type AgentExecutor, type ExecutionEventBus, type RequestContext } from "@a2a-js/sdk/server";
import { TaskNotCancelableError } from "@a2a-js/sdk/errors";
import { TaskState, type Task } from "@a2a-js/sdk";
import type { NatsConnection } from "@nats-io/nats-core";
import { newEnvelope, replySubject } from "../../../subjects/mod.js";
import { firstLine } from "../../base/nats-errors.js";
import { publishToInbox } from "../../bus/publish.js";
import type { Conversations } from "../conversations/conversations.js";
import { answerEvent, newTask, statusEvent, textOf } from "./objects.js";
import type { PeerProgress, Progress } from "./progress.js";

/** Jobs the agent submits natively (features/jobs/native.ts), on the job peers' URLs. */
export interface EndpointJobs {
  submit(peer: string, text: string, context: string): Promise<{ id: string; context: string }>;
  task(id: string): { peer: string; context: string; answer?: string } | undefined;
}

/** Who called: the local gateway (its outboundToken for the peer) or a configured A2A client. */
export const GATEWAY_CALLER = "gateway";

export interface MeshExecutorOptions {
  nc: NatsConnection;
  self: string;
  /** The mesh identity (or job peer) this executor's URL speaks to. */
  peer: string;
  progress: PeerProgress;
  conversations: Conversations;
  jobs?: EndpointJobs;
  /** Called first, with the task made for this request (the messageId's task from now on). */
  onStart?: (ctx: RequestContext) => Promise<void>;
  /** How often a job's outcome is looked at (default 500 ms). */
  jobPollMs?: number;
}

/** The reply subject of an ask sent for task `id` (one per task, so a restarted sidecar finds it again). */
export function askReplySubject(self: string, id: string): string {
  return replySubject(self, id.replace(/-/g, ""));
}

/**
 * One task's way through the mesh, turned into A2A events: the Task first (the SDK requires it;
 * steps seen before it wait), WORKING once, then one end (an answer artifact and COMPLETED,
 * FAILED or CANCELED with the reason).
 */
class Follow {
  delivered = false;
  private started = false;
  private ended = false;
  private readonly early: Progress[] = [];
  private readonly stops: Array<() => void> = [];
  readonly done: Promise<void>;
  private settle!: () => void;

  constructor(
    readonly taskId: string,
    readonly contextId: string,
    private readonly peer: string,
    private readonly emit: (e: AgentExecutionEvent) => void,
    private readonly onEnd: () => void,
  ) {
    this.done = new Promise<void>((r) => (this.settle = r));
  }

  stopWith(stop: () => void): void {
    if (this.ended) stop();
    else this.stops.push(stop);
  }

  start(task?: Task): void {
    if (task) this.emit(AgentEvent.task(task));
    this.started = true;
    for (const p of this.early.splice(0)) this.on(p);
  }

  on = (p: Progress): void => {
    if (!this.started) {
      this.early.push(p);
      return;
    }
    switch (p.kind) {
      case "delivered":
        if (this.delivered || this.ended) return;
        this.delivered = true;
        this.emit(AgentEvent.statusUpdate(statusEvent(this.taskId, this.contextId, TaskState.TASK_STATE_WORKING, `delivered to ${this.peer}'s gateway`)));
        return;
      case "dead-lettered":
        return this.end(TaskState.TASK_STATE_FAILED, `${this.peer} dead-lettered it: ${p.reason}`);
      case "answer-failed":
        return this.end(TaskState.TASK_STATE_FAILED, p.reason);
      case "answered":
        return this.end(TaskState.TASK_STATE_COMPLETED, `answered by ${this.peer}`, p.text);
    }
  };

  end(state: TaskState, note: string, answer?: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const s of this.stops.splice(0)) s();
    this.onEnd();
    if (answer !== undefined) this.emit(AgentEvent.artifactUpdate(answerEvent(this.taskId, this.contextId, answer)));
    this.emit(AgentEvent.statusUpdate(statusEvent(this.taskId, this.contextId, state, note)));
    this.settle();
  }

  /** Stops listening without an end (the sidecar is stopping; the task stays as stored). */
  abandon(): void {
    for (const s of this.stops.splice(0)) s();
    this.onEnd();
    this.settle();
  }
}

/**
 * One A2A task = one message on the mesh, and its states are what the mesh saw happen to it:
 *   SUBMITTED  stored on JetStream (agent.<peer>.inbox acked the publish)
 *   WORKING    <peer>'s sidecar delivered it to its gateway (events.<peer>.message.delivered)
 *   COMPLETED  the answer came back (an artifact first, then the final status)
 *   FAILED     <peer> dead-lettered it (with its reason), or its turn ended without an answer
 * The local gateway's own sends (a2a:<peer>) are conversation messages whose answer comes back
 * as a message into this identity's conversation; another A2A client's are asks, answered on a
 * reply subject. A job peer's message is a job of this identity.
 */
export class MeshExecutor implements AgentExecutor {
  private readonly inFlight = new Map<string, Follow>();

  constructor(private readonly opts: MeshExecutorOptions) {}

  private follow(taskId: string, contextId: string, emit: (e: AgentExecutionEvent) => void): Follow {
    const f = new Follow(taskId, contextId, this.opts.peer, emit, () => this.inFlight.delete(taskId));
    this.inFlight.set(taskId, f);
    return f;
  }

  private get jobs(): EndpointJobs | undefined {
    return this.opts.jobs && this.opts.peer.startsWith("jobs.") ? this.opts.jobs : undefined;
  }

  /** Listens for what the mesh says about message `taskId` (before it is sent, or again after a restart). */
  private listen(f: Follow, caller: string, jobId?: string): void {
    const { peer, progress } = this.opts;
    const jobs = this.jobs;
    if (jobs && jobId) {
      const timer = setInterval(() => {
        const t = jobs.task(jobId);
        if (t?.answer !== undefined) f.on({ kind: "answered", text: t.answer });
      }, this.opts.jobPollMs ?? 500);
      f.stopWith(() => clearInterval(timer));
      return;
    }
    f.stopWith(progress.watch(peer, f.taskId, f.on));
    if (caller === GATEWAY_CALLER) f.stopWith(this.opts.conversations.expectAnswer(f.taskId, peer, (answer) => f.on({ kind: "answered", text: answer })));
    else f.stopWith(progress.replies(peer, f.taskId, askReplySubject(this.opts.self, f.taskId)));
  }

  execute = async (ctx: RequestContext, bus: ExecutionEventBus): Promise<void> => {
    const { taskId, contextId } = ctx;
    const caller = ctx.context.user?.userName || GATEWAY_CALLER;
    const text = textOf(ctx.userMessage.parts);
    const { peer } = this.opts;
    const history = [ctx.userMessage];
    const f = this.follow(taskId, contextId, (e) => bus.publish(e));
    try {
      await this.opts.onStart?.(ctx);
      const jobs = this.jobs;
      if (jobs) {
        const job = await jobs.submit(peer, text, contextId);
        this.listen(f, caller, job.id);
        f.start(newTask(taskId, contextId, TaskState.TASK_STATE_SUBMITTED, history, `job ${job.id} queued`, { peer, job: job.id }));
        await f.done;
        return;
      }
      this.listen(f, caller);
      if (caller === GATEWAY_CALLER) await this.opts.conversations.send(peer, text, taskId, contextId);
      else await publishToInbox(this.opts.nc, newEnvelope({ id: taskId, from: this.opts.self, to: peer, kind: "ask", body: text, replyTo: askReplySubject(this.opts.self, taskId), context: contextId }));
    } catch (err) {
      f.abandon();
      bus.publish(AgentEvent.task(newTask(taskId, contextId, TaskState.TASK_STATE_FAILED, history, `not stored on the mesh: ${firstLine(err)}`, { peer })));
      return;
    }
    f.start(newTask(taskId, contextId, TaskState.TASK_STATE_SUBMITTED, history, `stored on ${peer}'s inbox`, { peer, caller }));
    await f.done;
  };

  /**
   * Follows again a task a previous run of this sidecar stored and did not see end (a restart):
   * its answer comes on the same reply subject or conversation as before. `emit` records each
   * event in the task store and hands it to anyone subscribed. Resolves when it ends.
   */
  async resume(task: Task, caller: string, emit: (e: AgentExecutionEvent) => void, answered?: Promise<Progress | undefined>): Promise<void> {
    const f = this.follow(task.id, task.contextId, emit);
    f.delivered = task.status?.state === TaskState.TASK_STATE_WORKING;
    const jobId = typeof task.metadata?.job === "string" ? task.metadata.job : undefined;
    this.listen(f, caller, jobId);
    f.start();
    const earlier = await answered;
    if (earlier) f.on(earlier);
    await f.done;
  }

  /**
   * A message still waiting in the peer's inbox is given up on: the task is CANCELED and its
   * answer, if one comes, is not taken. The mesh cannot take it back out of another identity's
   * inbox, so the status says it may still reach the peer. One already delivered to the peer's
   * gateway is not cancelable: stopping a turn needs that gateway's sessions.abort, which only
   * the peer's own sidecar holds a token for.
   */
  cancelTask = async (taskId: string, _bus: ExecutionEventBus): Promise<void> => {
    const f = this.inFlight.get(taskId);
    if (!f) return;
    if (f.delivered) {
      throw new TaskNotCancelableError(
        `task ${taskId} was already delivered to ${this.opts.peer}'s gateway: its turn runs there and the mesh cannot abort it from this Mac (sessions.abort needs ${this.opts.peer}'s gateway token)`,
      );
    }
    f.end(TaskState.TASK_STATE_CANCELED, `canceled before ${this.opts.peer}'s sidecar delivered it; the message stays in ${this.opts.peer}'s inbox and may still reach it, but no answer will be reported`);
  };

  /** The sidecar is stopping: stop listening; stored tasks are followed again by the next run. */
  close(): void {
    for (const f of [...this.inFlight.values()]) f.abandon();
  }
}
