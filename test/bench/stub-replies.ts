import type { RunReplySource } from "../../src/agent/openclaw-hooks/adapter.js";

/**
 * For the hooks stand-in: answers a turn `durationMs` after the stand-in received the POST that
 * carries its marker, as a gateway whose turns take that long would.
 */
export function stubReplies(hooks: { received: Array<{ body: { message?: string } }> }, durationMs: number): RunReplySource {
  return {
    waitForReply: async ({ marker, timeoutMs }) => {
      const deadline = Date.now() + timeoutMs;
      while (!hooks.received.some((h) => h.body.message?.includes(marker))) {
        if (Date.now() > deadline) return { status: "timeout" as const };
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, durationMs));
      return { status: "ok" as const, text: `result for ${marker}` };
    },
  };
}
