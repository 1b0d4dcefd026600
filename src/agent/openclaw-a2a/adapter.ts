/*
 * Longer than this project's ~300 lines on purpose: the adapter is one closure over the state of
 * the turns it has in flight with one gateway (tokens per peer, failed turns per message, turns that
 * ended while deliver() waited, what each task sent, since when a peer is refused). Deliver,
 * awaitReply, runJob and cancel all read and write it; the wire (client.ts, wire.ts), the peer table
 * (peers.ts) and the transcript fallback (transcript.ts) are already their own modules.
 */
import { replyFromText } from "../reply.js";
import { checkoutLine, httpRefused, unreachable, type AgentPort, type CallOptions, type DeliveryResult, type JobTurn, type PeerMessage, type ReplyTicket, type RunReply } from "../port.js";
import { a2aSessionKey, defaultConversation, jobConversation, sameSession } from "../../../subjects/mod.js";
import { pollDelay, pollUntil, sleep } from "../../base/backoff.js";
import type { RpcAnswer } from "../openclaw-rpc.js";
import { a2aCall, type CallResult } from "./client.js";
import { answerFromTranscript } from "./transcript.js";
import type { A2APeerTable } from "./peers.js";
import { RpcCodes, TaskStates, TERMINAL, statusText, taskText, type Task } from "./wire.js";

export interface OpenclawA2AOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:18789 (its A2A endpoint is <url>/a2a/v1). */
  url: string;
  peers: A2APeerTable;
  /** Automation turns and wake still go through the hooks adapter: untrusted framing is right there. */
  hooks: AgentPort;
  /**
   * The gateway's `sessions.abort` (WebSocket, needs operator.write): how a running job's turn is
   * stopped (the A2A channel refuses CancelTask). Absent without the gateway token.
   */
  abortSession?: (sessionKey: string) => Promise<RpcAnswer>;
  /**
   * The gateway's chat.history (WebSocket, operator.read): where an answer is read back when the
   * A2A channel forgot the task (a channels.a2a reload). Absent without the gateway token.
   */
  readSession?: (sessionKey: string) => Promise<RpcAnswer>;
  /** The gateway agent the A2A channel routes to (default "main"): names the session to abort. */
  agentId?: string;
  /** Called for a sender the gateway does not know yet: add it as a peer now. */
  addPeer?: (id: string) => Promise<void>;
  /** How long a peer the gateway refuses (401) is retried before its messages are dead-lettered. */
  unknownPeerGraceMs?: number;
  /**
   * How long a delivery waits for its turn to end before the message counts as delivered anyway
   * (default 60 s; longer turns are answered later through awaitReply).
   */
  settleMs?: number;
  /** Turns the gateway fails (e.g. in the seconds after it started) are sent again this many times (default 6, with the inbox backoff: about 30 s). */
  failedTurnRetries?: number;
  /**
   * The gateway's channels.a2a.replyTimeoutMs (OpenClaw's default 120 s): how long it holds a
   * blocking SendMessage before it answers the task still working. A delivery waits that long
   * plus a margin, so it always gets the task back.
   */
  gatewayReplyTimeoutMs?: number;
}

/** OpenClaw's default channels.a2a.replyTimeoutMs. */
export const GATEWAY_REPLY_TIMEOUT_MS = 120_000;

export const A2A_BRIDGE = "openclaw-a2a";


/** The text a job's turn starts with: who sent it, where from, which attempt; then the task as written. */
export function jobText(j: JobTurn): string {
  return `[mesh job ${j.id} from ${j.from}, queue ${j.queue}, attempt ${j.attempt}; your final reply is the job's result]${j.checkout ? `\n${checkoutLine(j.checkout)}` : ""}\n\n${j.task}`;
}

/**
 * The AgentPort over OpenClaw's bundled A2A channel: a peer's message arrives in the gateway as a
 * conversation from a named sender (`channels.a2a.peers.<from>`), in its own session per peer and
 * context, with the agent's tools — not as untrusted webhook content. A peer's message is sent
 * blocking: the gateway answers with the completed task (the reply is its artifact) as soon as the
 * turn ends, as it does for a direct A2A peer. (With returnImmediately the task was marked complete
 * later and read with GetTask: 1.2× the direct round trip instead of 1.0×, measured with the bench's
 * a2a scenario.) A turn longer than the gateway's blocking wait comes back working and is polled
 * with GetTask. Jobs are sent with returnImmediately: their task id is what a cancel needs.
 */
export function openclawA2AAgent(o: OpenclawA2AOptions): AgentPort {
  const endpoint = `${o.url.replace(/\/+$/, "")}/a2a/v1`;
  const refusedSince = new Map<string, number>();
  const grace = o.unknownPeerGraceMs ?? 30_000;

  async function tokenFor(peer: string): Promise<string | undefined> {
    let token = o.peers.inboundToken(peer);
    if (!token && o.addPeer) {
      await o.addPeer(peer);
      token = o.peers.inboundToken(peer);
    }
    return token;
  }

  const stopping = new AbortController();
  /** Failed turns per message id (a retry gets a new messageId: the channel ignores a repeated one). */
  const failedTurns = new Map<string, number>();
  /** Turns that already ended while deliver() waited: awaitReply answers from here. */
  const settled = new Map<string, RunReply>();
  /** What each task delivered: its session and text, to find its answer in the transcript. */
  const sent = new Map<string, { sessionKey: string; text: string }>();

  /**
   * Wakes a GetTask poll when the gateway's WebSocket says a turn of `sessionKey` ended: the
   * answer is read at once instead of at the next poll (up to 250 ms later). Without the gateway
   * token there is no WebSocket, and the poll alone finds it.
   */
  const wakeOnTurnEnd = (sessionKey: string | undefined) =>
    o.hooks.onTurnEnd && sessionKey ? (hint: () => void) => o.hooks.onTurnEnd!((key) => sameSession(sessionKey, key) && hint()) : undefined;

  /** Polls the task until it ends or `ms` pass; undefined when still working. */
  async function settle(token: string, taskId: string, ms: number, signal?: AbortSignal, sessionKey?: string): Promise<Task | undefined> {
    const wake = wakeOnTurnEnd(sessionKey);
    const r = await pollUntil<Task | undefined>(
      async () => {
        const r = await a2aCall(endpoint, token, "GetTask", { id: taskId }, { timeoutMs: 10_000 });
        if (r.kind === "task" && TERMINAL.has(r.task.status.state)) return { value: r.task };
        if (r.kind === "rpc-error" && r.code === RpcCodes.TaskNotFound) return { value: undefined };
        return undefined;
      },
      { deadline: Date.now() + ms, signal: signal ? AbortSignal.any([signal, stopping.signal]) : stopping.signal, ...(wake ? { wake } : {}) },
    );
    return typeof r === "object" ? r.value : undefined;
  }

  function replyOf(t: Task): RunReply {
    if (t.status.state !== TaskStates.completed) return { status: "error", error: statusText(t) || t.status.state };
    return replyFromText(taskText(t));
  }

  /** What a SendMessage that did not come back with a task means for delivery (retry or not, and why). */
  function refused(r: Exclude<CallResult, { kind: "task" }>, from: string): DeliveryResult {
    switch (r.kind) {
      case "unreachable":
        return unreachable(r.reason);
      case "http": {
        if (r.status === 401 || r.status === 403) {
          // A peer just added may not be live yet (the gateway hot-reloads in ~0.2 s): retry a while.
          const since = refusedSince.get(from) ?? Date.now();
          refusedSince.set(from, since);
          const retryable = Date.now() - since < grace;
          return { ok: false, status: r.status, retryable, reason: `the gateway refused the A2A peer ${from} (${r.reason}); is channels.a2a.peers.${from} in its config?` };
        }
        if (r.status === 404) {
          // The A2A channel starts only once it has a peer, and restarts on a config reload: its
          // route is missing meanwhile. Like a gateway that is down, wait for it.
          return { ok: false, status: 404, retryable: true, reason: "the gateway's A2A channel is not serving /a2a/v1 yet (channels.a2a.enabled with at least one peer; OpenClaw with the bundled a2a plugin)" };
        }
        return httpRefused(r.status, r.reason);
      }
      case "rpc-error":
        if (r.code === RpcCodes.RateLimited) return { ok: false, status: 429, retryable: true, reason: `A2A: ${r.message}` };
        return { ok: false, status: 400, retryable: false, reason: `A2A error ${r.code}: ${r.message}` };
    }
  }

  /** Remembers what a task delivered (its session and text), to find its answer in the transcript. */
  function remember(taskId: string, sessionKey: string, text: string): void {
    sent.set(taskId, { sessionKey, text });
    if (sent.size > 1000) sent.delete(sent.keys().next().value as string);
  }

  async function deliver(m: PeerMessage, opts: CallOptions = {}): Promise<DeliveryResult> {
    const token = await tokenFor(m.from);
    if (!token) return { ok: false, status: 0, retryable: false, reason: `${m.from} is not a peer of this gateway's A2A channel` };
    const contextId = m.context ?? defaultConversation(m.from);
    const sessionKey = a2aSessionKey(m.from, contextId, o.agentId);
    // Taken once the gateway starts the turn (its WebSocket says so; the sender's earlier turn in
    // this session has ended, so the next start there is this one), or at the latest when it answers.
    let started = false;
    let taken = false;
    const take = () => {
      if (!taken) (taken = true), opts.onTaken?.();
    };
    const unwatch = o.hooks.onTurnStart?.((key) => {
      if (sameSession(sessionKey, key)) (started = true), take();
    });
    const blockMs = (o.gatewayReplyTimeoutMs ?? GATEWAY_REPLY_TIMEOUT_MS) + 30_000;
    let r: CallResult;
    try {
      r = await a2aCall(
        endpoint,
        token,
        "SendMessage",
        { message: { messageId: failedTurns.has(m.id) ? `${m.id}-r${failedTurns.get(m.id)}` : m.id, role: "ROLE_USER", parts: [{ text: m.text }], contextId } },
        { timeoutMs: Math.max(opts.timeoutMs ?? 0, blockMs), ...(opts.signal ? { signal: opts.signal } : {}) },
      );
    } finally {
      unwatch?.();
    }
    if (r.kind === "unreachable" && started) {
      // The turn runs but the answer's connection broke (the A2A channel reloaded, or the gateway
      // restarted): sending it again could start a second turn, so it counts as delivered and its
      // answer is read from the session transcript.
      const ref = `lost-${m.id}`;
      remember(ref, sessionKey, m.text);
      return { ok: true, status: 200, ticket: { bridge: A2A_BRIDGE, session: m.from, ref } };
    }
    if (r.kind !== "task") return refused(r, m.from);
    refusedSince.delete(m.from);
    take();
    remember(r.task.id, sessionKey, m.text);
    const ticket: ReplyTicket = { bridge: A2A_BRIDGE, session: m.from, ref: r.task.id };
    // Wait for the turn to end (the sender's next message would queue behind it in the same
    // session anyway), so a turn the gateway fails is sent again instead of counting as delivered.
    const done = TERMINAL.has(r.task.status.state) ? r.task : await settle(token, r.task.id, o.settleMs ?? 60_000, opts.signal, sessionKey);
    if (done?.status.state === TaskStates.failed) {
      const failures = (failedTurns.get(m.id) ?? 0) + 1;
      failedTurns.set(m.id, failures);
      const reason = `the gateway failed the turn: ${statusText(done) || done.status.state}`;
      if (failures <= (o.failedTurnRetries ?? 6)) return { ok: false, status: 503, retryable: true, reason: `${reason} (sending it again)` };
      failedTurns.delete(m.id);
      if (m.kind === "message") return { ok: false, status: 422, retryable: false, reason };
    }
    failedTurns.delete(m.id);
    if (done?.status.state === TaskStates.rejected && m.kind === "message") {
      return { ok: false, status: 422, retryable: false, reason: `the gateway rejected it: ${statusText(done) || done.status.state}` };
    }
    if (done) settled.set(r.task.id, replyOf(done));
    if (settled.size > 1000) settled.delete(settled.keys().next().value as string);
    return { ok: true, status: 200, ticket };
  }

  /** Job sends per job and attempt: a re-send after "unreachable" gets a new messageId (the channel ignores a repeated one). */
  const jobSends = new Map<string, number>();
  /** The conversation each job's task runs in (its session is what cancel aborts). */
  const jobTasks = new Map<string, { peer: string; contextId: string }>();

  /**
   * A job as work from its submitter: a SendMessage from peer `j.from` in a conversation of the
   * job's own (job-<id>), with the agent's tools and no untrusted wrapper. Returns once the
   * gateway took it; the result is the task's artifact (awaitReply). A failed turn is not sent
   * again here: the job worker's attempts decide that.
   */
  async function runJob(j: JobTurn, opts: CallOptions = {}): Promise<DeliveryResult> {
    const token = await tokenFor(j.from);
    if (!token) return { ok: false, status: 0, retryable: false, reason: `${j.from} is not a peer of this gateway's A2A channel` };
    const contextId = jobConversation(j.id);
    const key = `${j.id}/${j.attempt}`;
    const sends = (jobSends.get(key) ?? 0) + 1;
    jobSends.set(key, sends);
    if (jobSends.size > 1000) jobSends.delete(jobSends.keys().next().value as string);
    const messageId = `job-${j.id}-a${j.attempt}${sends > 1 ? `-s${sends}` : ""}`;
    const r = await a2aCall(
      endpoint,
      token,
      "SendMessage",
      { message: { messageId, role: "ROLE_USER", parts: [{ text: jobText(j) }], contextId }, configuration: { returnImmediately: true } },
      { timeoutMs: opts.timeoutMs ?? 30_000, ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    if (r.kind !== "task") return refused(r, j.from);
    refusedSince.delete(j.from);
    jobSends.delete(key);
    jobTasks.set(r.task.id, { peer: j.from, contextId });
    if (jobTasks.size > 1000) jobTasks.delete(jobTasks.keys().next().value as string);
    if (TERMINAL.has(r.task.status.state)) settled.set(r.task.id, replyOf(r.task));
    return { ok: true, status: 200, ticket: { bridge: A2A_BRIDGE, session: j.from, ref: r.task.id } };
  }

  /**
   * Stops a job's running turn. OpenClaw 2026.9.6's A2A channel refuses CancelTask (-32004: "a
   * dispatched agent run has no plugin-facing abort seam"), so this calls the gateway's own
   * `sessions.abort` on the job's A2A session (WebSocket, operator.write), then reads the task
   * to see that the run ended. Says what happened either way.
   */
  async function cancel(ticket: ReplyTicket): Promise<{ stopped: boolean; detail: string }> {
    if (ticket.bridge !== A2A_BRIDGE) return o.hooks.cancel ? o.hooks.cancel(ticket) : { stopped: false, detail: "this bridge cannot stop a running turn; it runs to its end" };
    const job = jobTasks.get(ticket.ref);
    if (!job) return { stopped: false, detail: "not a job turn this sidecar started; nothing was aborted" };
    if (!o.abortSession) return { stopped: false, detail: "no gateway token: the sidecar cannot call the gateway's sessions.abort, so the turn runs to its end" };
    const key = a2aSessionKey(job.peer, job.contextId, o.agentId);
    const a = await o.abortSession(key);
    if (!a.ok) return { stopped: false, detail: `the gateway refused sessions.abort on ${key}: ${a.code} ${a.message}; the turn runs to its end` };
    const status = (a.payload as { status?: unknown } | undefined)?.status;
    if (status === "no-active-run") return { stopped: false, detail: `the turn had already ended (sessions.abort on ${key}: no-active-run)` };
    if (status !== "aborted") return { stopped: false, detail: `sessions.abort on ${key} answered ${JSON.stringify(status ?? null)}, not "aborted"` };
    const token = o.peers.inboundToken(job.peer);
    const ended = token ? await settle(token, ticket.ref, 5000) : undefined;
    return {
      stopped: true,
      detail: `the gateway aborted the turn (sessions.abort on ${key}: aborted; its A2A task ${ended ? `ended ${ended.status.state}` : "was still reported working 5 s later"})`,
    };
  }

  /**
   * The gateway forgot the task (a channels.a2a reload, or a restart) but the turn runs on in its
   * session: its answer is read back from the session transcript when it is there.
   */
  async function fromTranscript(taskId: string, deadline: number, timeoutMs: number): Promise<RunReply> {
    const what = sent.get(taskId);
    if (!what || !o.readSession) {
      return { status: "error", error: "the gateway no longer knows this task (it restarted or reloaded its A2A peers) and its transcript cannot be read here (no gateway token); its reply is lost" };
    }
    for (let i = 0; ; i++) {
      const found = await answerFromTranscript(o.readSession, what.sessionKey, what.text);
      if (found) return found;
      if (Date.now() >= deadline) return { status: "timeout", error: `no final reply within ${timeoutMs} ms (the gateway forgot the task; its transcript has no answer yet)` };
      if (!(await sleep(Math.min(1000, pollDelay(i) * 4), stopping.signal))) return { status: "error", error: "sidecar stopping" };
    }
  }

  async function awaitReply(ticket: ReplyTicket, timeoutMs: number): Promise<RunReply> {
    if (ticket.bridge !== A2A_BRIDGE) {
      // A turn that went through the hooks adapter: its reply comes from there.
      return o.hooks.awaitReply ? o.hooks.awaitReply(ticket, timeoutMs) : { status: "error", error: "this sidecar cannot read replies (no gateway token configured)" };
    }
    const known = settled.get(ticket.ref);
    if (known) {
      settled.delete(ticket.ref);
      return known;
    }
    const deadline = Date.now() + timeoutMs;
    const token = o.peers.inboundToken(ticket.session);
    if (!token) return { status: "error", error: `${ticket.session} is no longer a peer of this gateway` };
    const wake = wakeOnTurnEnd(sent.get(ticket.ref)?.sessionKey);
    const r = await pollUntil<RunReply>(
      async () => {
        const r = await a2aCall(endpoint, token, "GetTask", { id: ticket.ref }, { timeoutMs: 10_000 });
        if (r.kind === "task" && TERMINAL.has(r.task.status.state)) return { value: replyOf(r.task) };
        // The gateway forgot the task (a reload of its A2A peers): the answer is in its transcript.
        if (r.kind === "rpc-error" && r.code === RpcCodes.TaskNotFound) return { value: await fromTranscript(ticket.ref, deadline, timeoutMs) };
        if (r.kind === "http" && r.status === 401) return { value: { status: "error", error: `the gateway refused the A2A peer ${ticket.session}` } };
        // Working, unreachable for now (restarting), or rate limited: poll again until the deadline.
        return undefined;
      },
      { deadline, signal: stopping.signal, ...(wake ? { wake } : {}) },
    );
    if (r === "deadline") return { status: "timeout", error: `no final reply within ${timeoutMs} ms` };
    if (r === "aborted") return { status: "error", error: "sidecar stopping" };
    return r.value;
  }

  return {
    url: o.url,
    bridge: A2A_BRIDGE,
    deliver,
    awaitReply,
    runJob,
    cancel,
    automation: (t, opts) => o.hooks.automation(t, opts),
    wake: (text, opts) => o.hooks.wake(text, opts),
    ...(o.hooks.events ? { events: o.hooks.events } : {}),
    close: () => {
      stopping.abort();
      o.hooks.close?.();
    },
  };
}
