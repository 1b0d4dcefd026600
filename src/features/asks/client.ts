import { openSealed } from "../../bus/sealer.js";
import type { NatsConnection } from "@nats-io/nats-core";
import { newEnvelope, newId, parseEnvelope, replySubject, type Envelope } from "../../../subjects/mod.js";
import { formatDuration } from "../../base/duration.js";
import { MeshError } from "../../base/errors.js";
import { publishToInbox } from "../../bus/publish.js";
import { isTimeout } from "../../base/nats-errors.js";
import { MeshVerifier } from "../../bus/verify.js";
import { createLogger } from "../../base/log.js";

export interface AskResult {
  id: string;
  seq?: number;
  reply: Envelope;
  latencyMs: number;
  /** Replies that arrived on the reply subject and were refused, with the verifier's reason. */
  refused: string[];
}

/**
 * `mesh ask`: a message that expects an answer. The ask waits in the recipient's durable inbox like
 * any message; its replyTo is reply.<from>.<correlation>, where the recipient's sidecar publishes the
 * agent's final reply when the run completes.
 */
export async function ask(
  nc: NatsConnection,
  a: { from: string; to: string; text: string; timeoutMs: number; onRefused?: (reason: string) => void; createInbox?: boolean },
): Promise<AskResult> {
  // In a secure mesh an answer must be signed by the identity asked, for this asker, and fresh:
  // anyone may publish on reply.<asker>.<id> (the id is visible in public events).
  const verifier = await MeshVerifier.open(nc, createLogger({ name: "ask", level: "silent" }));
  const refused: string[] = [];
  const id = newId();
  const replyTo = replySubject(a.from, id.replace(/-/g, ""));
  const env = newEnvelope({ id, from: a.from, to: a.to, kind: "ask", body: a.text, replyTo });
  const started = Date.now();
  // One deadline for the whole wait (a subscription timeout only covers the first message, and
  // anyone may publish refused replies on the subject to keep it alive).
  const sub = nc.subscribe(replyTo);
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    sub.unsubscribe();
  }, a.timeoutMs);
  try {
    const sent = await publishToInbox(nc, env, { createInbox: a.createInbox ?? false });
    for await (const m of sub) {
      let reply: Envelope;
      try {
        reply = parseEnvelope(m.data);
      } catch {
        continue;
      }
      if (reply.kind !== "reply" || reply.correlationId !== id) continue;
      const verdict =
        reply.from !== a.to
          ? { ok: false as const, reason: `a reply from ${reply.from}, but the question went to ${a.to}` }
          : await verifier.verify(reply, { to: a.from, subject: m.subject, subjectNames: "to" });
      if (!verdict.ok) {
        const reason = `refused a reply claiming to be from ${reply.from}: ${verdict.reason}`;
        refused.push(reason);
        a.onRefused?.(reason);
        continue;
      }
      // A sealed answer is opened with this identity's keys (the signature was over it as sent).
      const opened = openSealed(nc, reply);
      if (!opened.ok) {
        const reason = `refused a reply from ${reply.from}: its sealed body cannot be opened here (${opened.reason})`;
        refused.push(reason);
        a.onRefused?.(reason);
        continue;
      }
      return { id, ...(sent.seq !== undefined ? { seq: sent.seq } : {}), reply: opened.env, latencyMs: Date.now() - started, refused };
    }
    if (!timedOut) throw new MeshError(`no answer from ${a.to}`);
    throw new MeshError(
      `no answer from ${a.to} within ${formatDuration(a.timeoutMs)} (the question ${id} stays in ${a.to}'s inbox; try \`mesh peers\`)`,
      3,
    );
  } catch (err) {
    if (isTimeout(err)) {
      throw new MeshError(
        `no answer from ${a.to} within ${formatDuration(a.timeoutMs)} (the question ${id} stays in ${a.to}'s inbox; try \`mesh peers\`)`,
        3,
      );
    }
    throw err;
  } finally {
    clearTimeout(deadline);
    sub.unsubscribe();
  }
}
