import { z } from "zod";
import type { Envelope } from "./envelope-core.js";
import { zodLine } from "./envelope.js";
import { isIdentity } from "./identity.js";

/**
 * Lifecycle events: `events.<identity>.<kind>` where kind is one of the dotted paths below
 * (each dot a subject token). The envelope has kind "event", type = this path, body = the shape.
 *
 * Sidecar's own:
 *   sidecar.started        { version, host, capabilities, gateway }
 *   sidecar.stopped        { reason }
 *   gateway.reachable      { url }
 *   gateway.unreachable    { url, reason }
 *   message.accepted       { id, from, seq }   (the gateway took it; its turn runs — A2A bridge, before delivered)
 *   message.delivered      { id, from, seq, runId?, attempts, latencyMs }
 *   message.retried        { id, from, seq, attempt, reason, nextDelayMs }
 *   message.dead-lettered  { id?, from?, seq, reason }
 *   ask.answered           { id, from, runId, status, latencyMs }
 *   conversation.sent      { id, to, context, hops }            (this agent sent a2a:<to> natively)
 *   conversation.replied   { id, to, inReplyTo, context, hops } (its answer forwarded to the sender)
 *   conversation.stopped   { inReplyTo, to, reason }             (an answer not forwarded, and why)
 *
 * Mirrored from the gateway's WebSocket protocol (read-only client):
 *   gateway.run.started    { runId, sessionKey?, agentId? }         (agent event, stream lifecycle, phase start)
 *   gateway.run.completed  { runId, sessionKey?, agentId? }         (phase end)
 *   gateway.run.failed     { runId, sessionKey?, agentId?, error? } (phase error)
 *   gateway.health         { ok, … as the gateway reports }         (health event)
 *   gateway.shutdown       { reason?, restartExpectedMs? }          (shutdown event)
 *
 * Shared repos (src/features/repos/):
 *   git.pushed             { remote, repo?, refs: [{ ref, old, new }] }  (`mesh git hook`: a push that succeeded)
 *   git.fetched            { eventId, repo, remote, refs: [{ ref, sha }], latencyMs } (a git-fetch action fetched it)
 *   git.fetch-failed       { eventId, repo?, remote, reason }            (a git-fetch action refused or failed, and why)
 *
 * git.pushed is checked for shape only (bounded strings): whether its values may reach git is the
 * git-fetch action's decision, which refuses with a reason and says so in git.fetch-failed.
 */
export const sidecarEventKinds = [
  "sidecar.started",
  "sidecar.stopped",
  "gateway.reachable",
  "gateway.unreachable",
  "message.accepted",
  "message.delivered",
  "message.retried",
  "message.dead-lettered",
  "ask.answered",
  "conversation.sent",
  "conversation.replied",
  "conversation.stopped",
  "gateway.run.started",
  "gateway.run.completed",
  "gateway.run.failed",
  "gateway.health",
  "gateway.shutdown",
  "job.started",
  "job.completed",
  "job.failed",
  "peer.down",
  "peer.up",
  "git.pushed",
  "git.fetched",
  "git.fetch-failed",
] as const;

export type EventKind = (typeof sidecarEventKinds)[number];

export const eventBodies = {
  "sidecar.started": z.object({ version: z.string(), host: z.string(), capabilities: z.array(z.string()), gateway: z.string() }),
  "sidecar.stopped": z.object({ reason: z.string() }),
  "gateway.reachable": z.object({ url: z.string() }),
  "gateway.unreachable": z.object({ url: z.string(), reason: z.string() }),
  "message.accepted": z.object({ id: z.string(), from: z.string(), seq: z.number() }),
  "message.delivered": z.object({
    id: z.string(),
    from: z.string(),
    seq: z.number(),
    runId: z.string().optional(),
    attempts: z.number(),
    latencyMs: z.number(),
  }),
  "message.retried": z.object({ id: z.string(), from: z.string(), seq: z.number(), attempt: z.number(), reason: z.string(), nextDelayMs: z.number() }),
  "message.dead-lettered": z.object({ id: z.string().optional(), from: z.string().optional(), seq: z.number(), reason: z.string() }),
  "ask.answered": z.object({ id: z.string(), from: z.string(), runId: z.string().optional(), status: z.string(), latencyMs: z.number() }),
  "conversation.sent": z.object({ id: z.string(), to: z.string(), context: z.string(), hops: z.number() }),
  "conversation.replied": z.object({ id: z.string(), to: z.string(), inReplyTo: z.string(), context: z.string(), hops: z.number() }),
  "conversation.stopped": z.object({ inReplyTo: z.string(), to: z.string(), reason: z.string() }),
  "gateway.run.started": z.object({ runId: z.string(), sessionKey: z.string().optional(), agentId: z.string().optional() }),
  "gateway.run.completed": z.object({ runId: z.string(), sessionKey: z.string().optional(), agentId: z.string().optional() }),
  "gateway.run.failed": z.object({ runId: z.string(), sessionKey: z.string().optional(), agentId: z.string().optional(), error: z.string().optional() }),
  "gateway.health": z.record(z.string(), z.unknown()),
  "gateway.shutdown": z.object({ reason: z.string().optional(), restartExpectedMs: z.number().optional() }),
  "job.started": z.object({ jobId: z.string(), queue: z.string(), attempt: z.number() }),
  "job.completed": z.object({ jobId: z.string(), queue: z.string(), latencyMs: z.number() }),
  "job.failed": z.object({ jobId: z.string(), queue: z.string(), reason: z.string(), final: z.boolean() }),
  "peer.down": z.object({ peer: z.string(), lastSeen: z.string() }),
  "peer.up": z.object({ peer: z.string(), lastSeen: z.string() }),
  "git.pushed": z
    .object({
      /** The remote the push went to, credentials stripped. */
      remote: z.string().min(1).max(2048),
      /** The pusher's short name for the repo (informational: a receiver matches on `remote`). */
      repo: z.string().max(200).optional(),
      refs: z.array(z.object({ ref: z.string().min(1).max(512), old: z.string().max(64), new: z.string().max(64) }).strict()).min(1).max(100),
    })
    .strict(),
  "git.fetched": z
    .object({
      eventId: z.string(),
      repo: z.string(),
      remote: z.string(),
      refs: z.array(z.object({ ref: z.string(), sha: z.string() }).strict()),
      latencyMs: z.number(),
    })
    .strict(),
  "git.fetch-failed": z.object({ eventId: z.string(), repo: z.string().optional(), remote: z.string(), reason: z.string() }).strict(),
} satisfies Record<EventKind, z.ZodType>;

export type EventBody<K extends EventKind> = z.infer<(typeof eventBodies)[K]>;

export type EventCheck = { ok: true; known: boolean } | { ok: false; reason: string };

/**
 * Is this envelope the event its subject says it is? kind "event", each kind token of
 * `events.<id>.<kind…>` a valid token, `type` equal to that kind, and — for a kind of this table —
 * a body matching its schema. `known: false` for a kind outside the table (its body is not checked:
 * the caller decides whether to accept it).
 */
export function checkEvent(env: Envelope, subject: string): EventCheck {
  if (env.kind !== "event") return { ok: false, reason: `kind ${JSON.stringify(env.kind)} is not an event` };
  const tokens = subject.split(".").slice(2);
  const bad = tokens.find((t) => !isIdentity(t));
  if (tokens.length === 0 || bad !== undefined) return { ok: false, reason: `event kind ${JSON.stringify(tokens.join("."))} on ${subject} is not lowercase letters, digits and dashes` };
  const kind = tokens.join(".");
  if (env.type !== kind) return { ok: false, reason: `type ${JSON.stringify(env.type ?? null)} does not match its subject ${subject}` };
  if (!(kind in eventBodies)) return { ok: true, known: false };
  const parsed = eventBodies[kind as EventKind].safeParse(env.body);
  if (!parsed.success) return { ok: false, reason: `body does not match the ${kind} schema (${zodLine(parsed.error)})` };
  return { ok: true, known: true };
}

/** A dead letter's body (`dlq.<id>.<source>`, envelope kind "dead-letter"). */
export const deadLetterBody = z.object({
  reason: z.string(),
  subject: z.string(),
  stream: z.string().optional(),
  seq: z.number().optional(),
  /** The original payload as text, truncated to 64 KiB. */
  original: z.string(),
  originalId: z.string().optional(),
  from: z.string().optional(),
});
export type DeadLetterBody = z.infer<typeof deadLetterBody>;

/** Presence heartbeat value in the mesh-presence KV bucket (key = identity). */
export const presenceSchema = z.object({
  identity: z.string(),
  host: z.string(),
  version: z.string(),
  capabilities: z.array(z.string()),
  gateway: z.enum(["up", "down", "unknown", "none"]),
  startedAt: z.string(),
  lastSeen: z.string(),
  status: z.enum(["online", "stopping"]).default("online"),
  /** The bridge into the gateway (the adapter's name, e.g. "openclaw-a2a"); absent from older sidecars. */
  bridge: z.string().optional(),
  /** The job queues it serves (absent: it runs no jobs, or an older sidecar). Job peers are derived from it. */
  queues: z.array(z.string()).optional(),
});
export type Presence = z.infer<typeof presenceSchema>;
