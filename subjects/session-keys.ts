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
