import { identity, isIdentity, token } from "./identity.js";

/**
 * The gateway sessions the mesh runs turns in, named here and parsed back here only.
 *
 *   mesh:<peer>            a peer's messages and asks (one conversation per peer, hooks bridge)
 *   mesh:job-<id>          one job
 *   mesh:hook-<rule>       a hook rule's agent action (or mesh:hook-<rule>-<suffix> when the rule names one)
 *   mesh:alert-<rule>      a hook rule's alert action
 *   mesh:alerts            peer-down alerts
 *
 * The gateway stores a requested key under its agent, e.g. `agent:main:mesh:clawd`.
 */
export const SESSION_PREFIX = "mesh:";

export function peerSessionKey(peer: string): string {
  return `${SESSION_PREFIX}${identity(peer)}`;
}

export function jobSessionKey(jobId: string): string {
  return `${SESSION_PREFIX}job-${jobId}`;
}

export function hookSessionKey(rule: string, suffix?: string): string {
  return `${SESSION_PREFIX}hook-${token(rule, "rule name")}${suffix ? `-${token(suffix, "session suffix")}` : ""}`;
}

export function alertSessionKey(rule: string): string {
  return `${SESSION_PREFIX}alert-${token(rule, "rule name")}`;
}

/**
 * The A2A conversation (contextId) of messages between this agent and `peer` when nobody named
 * one: the receiving gateway keeps one session per sender and context.
 */
export function defaultConversation(peer: string): string {
  return `mesh-${identity(peer)}`;
}

/**
 * The A2A conversation (contextId) a job runs in on its worker's gateway: one per job, so a job
 * never sees another job's (or the submitter's chat) history.
 */
export function jobConversation(jobId: string): string {
  if (!/^[A-Za-z0-9-]{1,100}$/.test(jobId)) throw new Error(`invalid job id ${JSON.stringify(jobId).slice(0, 60)}`);
  return `job-${jobId}`;
}

/**
 * The session OpenClaw's A2A channel (account "default") runs a peer's message in:
 * `agent:<agent>:a2a:default:direct:<peer>:<contextId>` (checked on OpenClaw 2026.9.6).
 */
export function a2aSessionKey(peer: string, contextId: string, agentId = "main"): string {
  return `agent:${agentId}:a2a:default:direct:${peer}:${contextId}`;
}

/**
 * Job peers: entries of the gateway's A2A channel that stand for a queue and a set of
 * capabilities, not for an identity, so the agent can send `a2a:jobs.default.gpu` ("whichever Mac
 * has gpu"). `jobs.<queue>` (any worker) or `jobs.<queue>.<cap>[_<cap>…]` (capabilities sorted).
 * They cannot collide with an identity: identities never contain a dot or an underscore, and
 * OpenClaw's peer names allow both (lowercase, digits, `.`, `_`, `-`, at most 64).
 */
export const JOB_PEER_PREFIX = "jobs.";
const A2A_PEER_MAX = 64;

/** The job peer for `queue` and `needs`; undefined when the name would pass OpenClaw's 64 characters. */
export function jobPeerName(queue: string, needs: readonly string[] = []): string | undefined {
  const caps = [...new Set(needs.map((n) => token(n, "capability")))].sort();
  const name = `${JOB_PEER_PREFIX}${token(queue, "queue")}${caps.length ? `.${caps.join("_")}` : ""}`;
  return name.length <= A2A_PEER_MAX ? name : undefined;
}

/** The queue and needs a job peer stands for; undefined for anything else (an identity, a typo). */
export function parseJobPeer(name: string): { queue: string; needs: string[] } | undefined {
  if (!name.startsWith(JOB_PEER_PREFIX) || name.length > A2A_PEER_MAX) return undefined;
  const [queue, caps, ...rest] = name.slice(JOB_PEER_PREFIX.length).split(".");
  if (rest.length || !queue || !isIdentity(queue)) return undefined;
  const needs = caps === undefined ? [] : caps.split("_");
  if (caps !== undefined && (needs.length === 0 || !needs.every((n) => isIdentity(n)))) return undefined;
  const sorted = [...new Set(needs)].sort();
  // One spelling per set: sorted, no repeats (so two names never stand for the same queue).
  if (sorted.join("_") !== needs.join("_")) return undefined;
  return { queue, needs };
}

export const PEER_ALERTS_SESSION_KEY = `${SESSION_PREFIX}alerts`;

export type MeshSession =
  | { kind: "peer"; peer: string }
  | { kind: "job"; id: string }
  | { kind: "hook"; rule: string }
  | { kind: "alert"; rule: string }
  | { kind: "alerts" };

/**
 * What a session key (as requested, or as the gateway stores it: `agent:<agent>:mesh:…`) names;
 * undefined for sessions that are not the mesh's.
 */
export function parseSessionKey(key: string): MeshSession | undefined {
  const at = key.startsWith(SESSION_PREFIX) ? 0 : key.indexOf(`:${SESSION_PREFIX}`) + 1;
  if (at === 0 && !key.startsWith(SESSION_PREFIX)) return undefined;
  const rest = key.slice(at + SESSION_PREFIX.length);
  if (rest === "alerts") return { kind: "alerts" };
  if (rest.startsWith("job-")) return { kind: "job", id: rest.slice(4) };
  if (rest.startsWith("hook-")) return { kind: "hook", rule: rest.slice(5) };
  if (rest.startsWith("alert-")) return { kind: "alert", rule: rest.slice(6) };
  return isIdentity(rest) ? { kind: "peer", peer: rest } : undefined;
}

/** True for sessions whose runs the mesh itself started as automation (hook rules, alerts). */
export function isAutomationSession(key: string): boolean {
  const s = parseSessionKey(key);
  return s?.kind === "hook" || s?.kind === "alert" || s?.kind === "alerts";
}

/** Same session, requested vs stored (`mesh:clawd` vs `agent:main:mesh:clawd`). */
export function sameSession(requested: string, actual: string): boolean {
  return actual === requested || actual.endsWith(`:${requested}`);
}
