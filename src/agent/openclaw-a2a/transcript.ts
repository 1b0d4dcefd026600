import { z } from "zod";
import type { RpcAnswer } from "../openclaw-rpc.js";
import { replyFromText } from "../reply.js";
import type { RunReply } from "../port.js";

const historySchema = z
  .object({
    messages: z.array(
      z
        .object({
          role: z.string(),
          content: z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough())]).optional(),
        })
        .passthrough(),
    ),
  })
  .passthrough();

function textOf(content: z.infer<typeof historySchema>["messages"][number]["content"]): string {
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return content
    .filter((p) => p.type === "text" && typeof p.text === "string")
    .map((p) => p.text)
    .join("");
}

/**
 * A turn's answer read back from its session's transcript (the gateway's chat.history), for when
 * the A2A channel no longer knows the task (a channels.a2a reload forgets the tasks it held, but
 * the turn ran and its transcript stays): the last user entry carrying the message's text, and
 * the assistant's entry after it. Undefined while there is none yet (or the transcript is unreadable).
 */
export async function answerFromTranscript(read: (sessionKey: string) => Promise<RpcAnswer>, sessionKey: string, sent: string): Promise<RunReply | undefined> {
  const r = await read(sessionKey);
  if (!r.ok) return undefined;
  const h = historySchema.safeParse(r.payload);
  if (!h.success) return undefined;
  const entries = h.data.messages.map((m) => ({ role: m.role, text: textOf(m.content) }));
  const probe = sent.trim().slice(0, 200);
  let asked = -1;
  entries.forEach((e, i) => {
    if (e.role === "user" && e.text.includes(probe)) asked = i;
  });
  if (asked === -1) return undefined;
  const answer = entries.slice(asked + 1).find((e) => e.role === "assistant" && e.text.trim() !== "");
  return answer ? replyFromText(answer.text) : undefined;
}
