import type { EventBody, EventKind } from "../../subjects/mod.js";

/**
 * What the mesh needs from the agent next to it, as one port. The features (inbox, asks, jobs,
 * hooks, alerts) speak only this; adapters speak a gateway's protocol:
 *   openclaw-hooks/  OpenClaw's hooks HTTP API + its WebSocket for replies and lifecycle events.
 * Each method says what it is for, not how a gateway does it, so an adapter may deliver a peer's
 * message as a conversation and an automation turn as untrusted input.
 */

/** A peer's message or ask, from the inbox: part of this agent's conversation with that peer. */
export interface PeerMessage {
  id: string;
  from: string;
  kind: "message" | "ask";
  text: string;
  /** The conversation (A2A contextId) it continues, when the sender named one. */
  context?: string;
}

/** A job taken from the queue: the agent's final reply is the job's result. */
export interface JobTurn {
  id: string;
  from: string;
  queue: string;
  task: string;
  attempt: number;
  /** A pinned job: the commit checked out for it, in a worktree of its own (the agent works there). */
  checkout?: { repo: string; sha: string; dir: string };
}

/** The line a job's text carries when it is pinned to a commit (both adapters put it there). */
export function checkoutLine(c: NonNullable<JobTurn["checkout"]>): string {
  return `[checked out ${c.repo} at ${c.sha} in ${c.dir}]`;
}

/**
 * A turn the mesh starts on its own (a hook rule's action, a peer-down alert). Its text is built
 * from event fields a peer controls, so adapters must present it as untrusted input.
 */
export interface AutomationTurn {
  source: "hook" | "alert";
  /** The rule (or "peers" for peer-down alerts); names the session and the idempotency key. */
  rule: string;
  /** The event this turn is for (with `rule`, makes a repeated turn a replay, not a re-run). */
  eventId: string;
  text: string;
  /** The gateway session it runs in (subjects/session-keys.ts names them). */
  session: string;
  /** Send the agent's answer to the owner (e.g. iMessage). */
  deliverTo?: { channel: string; to: string };
}

/** Where a delivered ask or job's answer will come from (made by the adapter that delivered it). */
export interface ReplyTicket {
  /** The adapter that made it (a composite adapter routes awaitReply by it). */
  readonly bridge: string;
  readonly session: string;
  readonly ref: string;
}

export type DeliveryResult =
  | { ok: true; status: number; runId?: string; ticket?: ReplyTicket }
  | { ok: false; status: number; retryable: boolean; reason: string };

export interface RunReply {
  status: "ok" | "error" | "timeout";
  text?: string;
  error?: string;
  /** The agent chose not to answer (NO_REPLY, an empty turn): nothing to send back. */
  silent?: boolean;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Called when the gateway took the message, by an adapter that waits longer than that before
   * it answers (the A2A bridge waits for the turn's end, to send a failed turn again).
   */
  onTaken?: () => void;
}

/** Reports the gateway's own events (its lifecycle) as mesh event kinds. */
export interface GatewayEventSource {
  start(emit: <K extends EventKind>(kind: K, body: EventBody<K>) => void): Promise<void> | void;
  close(): Promise<void> | void;
  /** True while the live link to the gateway (e.g. its WebSocket) is up. */
  connected?(): boolean;
}

export interface AgentPort {
  /** The gateway's base URL (for events and doctor output). */
  readonly url: string;
  /**
   * Calls `listener` with the session key of every turn the gateway ends (final, error or aborted),
   * as its WebSocket says; returns the unsubscribe. Absent without the gateway token (no WebSocket).
   */
  onTurnEnd?(listener: (sessionKey: string) => void): () => void;
  /** Like onTurnEnd, for every run the gateway starts. */
  onTurnStart?(listener: (sessionKey: string) => void): () => void;
  /** Which bridge this adapter is ("openclaw-hooks", …), for doctor and presence. */
  readonly bridge: string;
  /** Hands a peer's message to the agent; ok means the gateway took it (it will run the turn). */
  deliver(m: PeerMessage, opts?: CallOptions): Promise<DeliveryResult>;
  /** Starts a job's turn. */
  runJob(j: JobTurn, opts?: CallOptions): Promise<DeliveryResult>;
  /** Starts an automation turn (hook rule action, alert). */
  automation(t: AutomationTurn, opts?: CallOptions): Promise<DeliveryResult>;
  /** A system event for the agent's main session ("wake up and look at this"). */
  wake(text: string, opts?: CallOptions): Promise<DeliveryResult>;
  /** The final reply to a delivered ask or job; absent when this adapter cannot read replies. */
  awaitReply?(ticket: ReplyTicket, timeoutMs: number): Promise<RunReply>;
  /**
   * Stops the turn a delivered job started, where the gateway allows it (cancel of a running job).
   * Says what really happened, for the job's record; absent when the adapter cannot stop turns.
   */
  cancel?(ticket: ReplyTicket): Promise<{ stopped: boolean; detail: string }>;
  /** The gateway's lifecycle, when the adapter can watch it. */
  readonly events?: GatewayEventSource;
  /** Ends every wait in progress (awaitReply answers "stopping"): the sidecar is stopping. */
  close?(): void;
}

/** Retryable: the gateway may take it later (unreachable, timeout, 5xx, 408, 429); other 4xx not. */
export function retryableStatus(status: number): boolean {
  return status === 0 || status >= 500 || status === 429 || status === 408;
}

/** An HTTP answer that is not a success, as a delivery result (retryable or not by its status). */
export function httpRefused(status: number, reason: string): DeliveryResult {
  return { ok: false, status, retryable: retryableStatus(status), reason };
}

/** The endpoint could not be reached (refused, reset, timed out): always worth another try. */
export function unreachable(reason: string): DeliveryResult {
  return { ok: false, status: 0, retryable: true, reason };
}
