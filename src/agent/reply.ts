import type { RunReply } from "./port.js";

/** What OpenClaw answers when the model said NO_REPLY or nothing: not a reply to pass on. */
const SILENT = [/^\s*$/, /^NO_REPLY$/, /^⚠️ Agent couldn't generate a response/];
/**
 * What OpenClaw puts where the answer would be when the run itself failed or was aborted (seen
 * after sessions.abort on 2026.9.6): an error, not an answer.
 */
const RUN_FAILED = [/^⚠️ OpenClaw couldn't produce or deliver a reply/];

/** A turn's final text as a reply, the same on every bridge: an answer, silence, or a failed run. */
export function replyFromText(text: string): RunReply {
  const t = text.trim();
  if (RUN_FAILED.some((re) => re.test(t))) return { status: "error", error: `the gateway ended the run without an answer: ${t.split("\n")[0]!.slice(0, 300)}` };
  return SILENT.some((re) => re.test(t)) ? { status: "ok", text: "", silent: true } : { status: "ok", text };
}
