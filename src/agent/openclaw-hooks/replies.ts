import { z } from "zod";
import { sameSession } from "../../../subjects/mod.js";
import type { RunReply } from "../port.js";
import { replyFromText } from "../reply.js";
import { markersIn } from "./turns.js";

const contentSchema = z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough())]);
const sessionMessageSchema = z
  .object({ sessionKey: z.string(), message: z.object({ role: z.string(), content: contentSchema.optional() }).passthrough() })
  .passthrough();
const chatSchema = z
  .object({
    sessionKey: z.string(),
    runId: z.string().optional(),
    state: z.string(),
    message: z.object({ role: z.string().optional(), content: contentSchema.optional() }).passthrough().optional(),
    errorMessage: z.string().optional(),
  })
  .passthrough();

/** The text of a message's content (a string, or its text parts joined). */
function textOf(content: z.infer<typeof contentSchema> | undefined): string {
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return content
    .filter((p) => p.type === "text" && typeof p.text === "string")
    .map((p) => p.text)
    .join("");
}

interface PendingReply {
  sessionKey: string;
  marker: string;
  seenOn?: string;
  resolve: (r: RunReply) => void;
}

const MAX_MARKERS = 1000;

/**
 * Finds the final reply to a turn the hooks bridge started. A hook run's HTTP runId is not the
 * runId its events carry, so the sidecar puts a marker in the message (`replyMarker`, turns.ts);
 * the `session.message` user entry that carries it names the session, and the next `chat` event
 * with state final (or error, aborted) on that session is the answer. The session is checked the
 * same way whether the marker was seen before the wait began or while it waits.
 */
export class ReplyMatcher {
  private readonly waiting = new Set<PendingReply>();
  /** Markers seen lately, with their session (the user entry may arrive before the wait begins). */
  private readonly seen = new Map<string, string>();

  /** One gateway event; true when it was one the matcher reads. */
  onEvent(event: string, payload: unknown): boolean {
    if (event === "session.message") this.onSessionMessage(payload);
    else if (event === "chat") this.onChat(payload);
    else return false;
    return true;
  }

  /** Waits for the final reply to the turn whose text carries `marker`, in session `sessionKey`. */
  waitFor(p: { sessionKey: string; marker: string; timeoutMs: number }): Promise<RunReply> {
    return new Promise((resolve) => {
      const seenOn = this.seen.get(p.marker);
      const pending: PendingReply = {
        sessionKey: p.sessionKey,
        marker: p.marker,
        ...(seenOn && sameSession(p.sessionKey, seenOn) ? { seenOn } : {}),
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
      };
      const t = setTimeout(() => {
        this.waiting.delete(pending);
        resolve({ status: "timeout", error: `no final reply within ${p.timeoutMs} ms` });
      }, p.timeoutMs);
      t.unref();
      this.waiting.add(pending);
    });
  }

  /** Ends every wait: the sidecar is stopping. */
  close(): void {
    for (const w of this.waiting) w.resolve({ status: "error", error: "sidecar stopping" });
    this.waiting.clear();
  }

  private onSessionMessage(payload: unknown): void {
    const p = sessionMessageSchema.safeParse(payload);
    if (!p.success || p.data.message.role !== "user") return;
    const text = textOf(p.data.message.content);
    for (const marker of markersIn(text)) {
      this.seen.set(marker, p.data.sessionKey);
      if (this.seen.size > MAX_MARKERS) this.seen.delete(this.seen.keys().next().value as string);
      for (const w of this.waiting) if (w.marker === marker && sameSession(w.sessionKey, p.data.sessionKey)) w.seenOn = p.data.sessionKey;
    }
  }

  private onChat(payload: unknown): void {
    const p = chatSchema.safeParse(payload);
    if (!p.success) return;
    const { sessionKey, state } = p.data;
    if (state !== "final" && state !== "error" && state !== "aborted") return;
    for (const w of [...this.waiting]) {
      if (!w.seenOn || w.seenOn !== sessionKey) continue;
      this.waiting.delete(w);
      if (state === "final") w.resolve(replyFromText(textOf(p.data.message?.content)));
      else w.resolve({ status: "error", error: p.data.errorMessage ?? `run ${state}` });
    }
  }
}
