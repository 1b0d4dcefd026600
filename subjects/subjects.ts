import { identity, token } from "./identity.js";

/**
 * Every subject the mesh uses is built here and nowhere else.
 *
 *   agent.<to>.inbox.<from>          <from>'s lane into <to>'s durable inbox  (stream INBOX-<to>)
 *   reply.<id>.<correlation>         answers to `mesh ask` from <id>            (core NATS)
 *   events.<id>.<kind>[.<kind>…]     lifecycle events published by <id>         (stream EVENTS)
 *   jobs.<queue>.<needs>             work offered to any free worker            (stream JOBS, work queue)
 *   dlq.<id>.<source>.<sender>       dead letters of <id>, with the reason      (stream DLQ-<id>)
 *
 * The last token of an inbox or dead-letter subject is the sender. On a secure mesh the server
 * checks it (an identity may publish only on its own lane), so per-subject limits are per-sender
 * shares: one sender filling its share of an inbox leaves every other sender's share free.
 */
export const SUBJECT_ROOTS = {
  inbox: "agent",
  reply: "reply",
  events: "events",
  jobs: "jobs",
  dlq: "dlq",
} as const;

/** <from>'s lane into <to>'s durable inbox. */
export function inboxSubject(to: string, from: string): string {
  return `agent.${identity(to)}.inbox.${identity(from, "sender")}`;
}

/** Every sender's lane into <to>'s inbox (the subjects of its inbox stream). */
export function inboxOf(to: string): string {
  return `agent.${identity(to)}.inbox.*`;
}

/** What <from> may publish into: its own lane of every inbox. */
export function inboxesFrom(from: string): string {
  return `agent.*.inbox.${identity(from, "sender")}`;
}

/** Before per-sender lanes an inbox had one subject; a stream made then may still hold such messages. */
export function legacyInboxSubject(to: string): string {
  return `agent.${identity(to)}.inbox`;
}

/** Filter matching every inbox lane. */
export const ALL_INBOXES = "agent.*.inbox.*";

/** The sender token of an inbox lane (agent.<to>.inbox.<from>) or dead-letter subject (dlq.<id>.<source>.<sender>). */
export function senderOf(subject: string): string | undefined {
  const parts = subject.split(".");
  if (parts.length !== 4) return undefined;
  if (parts[0] === SUBJECT_ROOTS.inbox && parts[2] === "inbox") return parts[3];
  if (parts[0] === SUBJECT_ROOTS.dlq) return parts[3];
  return undefined;
}

export function replySubject(id: string, correlationId: string): string {
  return `reply.${identity(id)}.${token(correlationId.toLowerCase(), "correlation id")}`;
}

/** True when `subject` is a reply subject of `id` (reply.<id>.<one token>): where answers to its asks may go. */
export function isReplySubjectOf(subject: string, id: string): boolean {
  const parts = subject.split(".");
  return parts.length === 3 && parts[0] === SUBJECT_ROOTS.reply && parts[1] === id && /^[a-z0-9-]{1,64}$/.test(parts[2] ?? "");
}

export function eventSubject(id: string, ...kind: string[]): string {
  if (kind.length === 0) throw new Error("an event subject needs a kind");
  return `events.${identity(id)}.${kind.map((k) => token(k, "event kind")).join(".")}`;
}

export const ALL_EVENTS = "events.>";

/** Everything <id> publishes (events), dead-letters, or is answered on (replies). */
export function eventsOf(id: string): string {
  return `events.${identity(id)}.>`;
}
export function dlqOf(id: string): string {
  return `dlq.${identity(id)}.>`;
}
export function repliesTo(id: string): string {
  return `reply.${identity(id)}.>`;
}
/** Any reply subject (reply.<asker>.<correlation>). */
export const ALL_REPLIES = "reply.*.*";

/** Jobs are offered on jobs.<queue>.<needs>; needs is "any" or capabilities sorted and joined by "+". */
export function jobNeedsToken(needs: readonly string[]): string {
  if (needs.length === 0) return "any";
  const sorted = [...new Set(needs.map((n) => token(n, "capability")))].sort();
  return sorted.join("+");
}

export function jobSubject(queue: string, needs: readonly string[] = []): string {
  return `jobs.${token(queue, "queue")}.${jobNeedsToken(needs)}`;
}

export const ALL_JOBS = "jobs.>";

/** Where <id> keeps what it refused from <sender> (the sender's own share of its dead letters). */
export function dlqSubject(id: string, source: string, sender: string): string {
  return `dlq.${identity(id)}.${token(source, "dead-letter source")}.${token(sender, "sender")}`;
}

/** The sender token of a dead letter whose sender is not known (an unreadable message on a legacy subject). */
export const UNKNOWN_SENDER = "unknown";

export const ALL_DLQ = "dlq.>";

/** True for subjects a mesh stream stores (inboxes, events, jobs, dead letters); replies are core NATS. */
export function isStoredSubject(subject: string): boolean {
  const parts = subject.split(".");
  const [root, , leaf] = parts;
  if (root === SUBJECT_ROOTS.events || root === SUBJECT_ROOTS.jobs || root === SUBJECT_ROOTS.dlq) return parts.length >= 2;
  return root === SUBJECT_ROOTS.inbox && leaf === "inbox" && (parts.length === 4 || parts.length === 3);
}

/** The identity a subject belongs to (second token), for inbox/events/reply/dlq subjects. */
export function ownerOf(subject: string): string | undefined {
  const parts = subject.split(".");
  return parts.length >= 2 ? parts[1] : undefined;
}

/**
 * Checks a subject or pattern typed by a user (`mesh pub`, `mesh sub`): non-empty tokens, no
 * whitespace or control characters, `>` only last, wildcards only as whole tokens.
 * Publishing subjects must not contain wildcards.
 */
export function checkSubject(raw: string, opts: { wildcards: boolean }): string {
  const bad = (why: string): never => {
    throw new Error(`invalid subject ${JSON.stringify(raw).slice(0, 80)}: ${why}`);
  };
  if (raw.length === 0) bad("it is empty");
  if (raw.length > 512) bad("it is longer than 512 characters");
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) bad("it contains whitespace or a control character");
  const tokens = raw.split(".");
  tokens.forEach((t, i) => {
    if (t.length === 0) bad("it has an empty token (leading, trailing or double dot)");
    if (t.includes("*") || t.includes(">")) {
      if (!opts.wildcards) bad("wildcards (* and >) cannot be published to");
      if (t !== "*" && t !== ">") bad("a wildcard must be a whole token");
      if (t === ">" && i !== tokens.length - 1) bad("> must be the last token");
    }
  });
  return raw;
}
