import { checkSubject, identity, inboxSubject, newEnvelope, parseEnvelope, type Envelope } from "../../subjects/mod.js";
import { publishEnvelope, publishRaw } from "../../src/bus/publish.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, readStdin, resolved, selfIdentity, withConnection } from "./common.js";

interface PubOptions extends GlobalOptions {
  raw?: boolean;
  json?: boolean;
}

/**
 * An inbox is published into on the sender's own lane: `agent.nova.inbox` means
 * agent.nova.inbox.<self> (the only lane a secure mesh lets this identity publish on).
 */
function laneOf(subject: string, from: string): string {
  const parts = subject.split(".");
  return parts[0] === "agent" && parts[2] === "inbox" && parts.length === 3 ? inboxSubject(identity(parts[1] ?? ""), from) : subject;
}

/** Wraps text in an envelope when the subject is an inbox lane or an event subject. */
function wrap(subject: string, text: string, from: string): Envelope | undefined {
  const parts = subject.split(".");
  try {
    return parseEnvelope(text);
  } catch {
    /* plain text: wrap below */
  }
  if (parts[0] === "agent" && parts[2] === "inbox" && parts.length === 4) {
    return newEnvelope({ from, to: identity(parts[1] ?? ""), kind: "message", body: text });
  }
  if (parts[0] === "events" && parts.length >= 3) {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* keep text */
    }
    return newEnvelope({ from, to: "*", kind: "event", type: parts.slice(2).join("."), body });
  }
  return undefined;
}

export async function pub(subject: string, text: string | undefined, opts: PubOptions): Promise<void> {
  checkSubject(subject, { wildcards: false });
  const r = await resolved(opts);
  const body = text ?? (await readStdin());
  const self = selfIdentity(r);
  subject = laneOf(subject, self);
  const env = opts.raw ? undefined : wrap(subject, body, self);
  const result = await withConnection(r, (nc) =>
    env ? publishEnvelope(nc, subject, env) : publishRaw(nc, subject, new TextEncoder().encode(body)),
  );
  if (opts.json) return printJson(result);
  const where = result.stream ? ` (${result.stream} seq ${result.seq}${result.duplicate ? ", duplicate" : ""})` : "";
  process.stdout.write(`published to ${subject}${result.id ? ` id ${result.id}` : ""}${where}\n`);
}
