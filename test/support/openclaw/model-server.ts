/**
 * An OpenAI-compatible model server on loopback that tests control: the OpenClaw gateway's
 * model provider points here. GET /v1/models, POST /v1/chat/completions (SSE when stream: true).
 * Every request is recorded with its last user message; the reply is chosen by `reply`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ModelRequest {
  at: number;
  model: string;
  lastUser: string;
  /** Every user message of the request, joined (the hook text may not be the last one). */
  allUser: string;
  /**
   * This turn's input: the user messages after the last assistant or tool message (OpenClaw's A2A
   * channel puts the text in one and its internal context block in the last).
   */
  turn: string;
  /** Every message of the request (system, user, assistant, tool), joined: what the model was shown. */
  all: string;
  stream: boolean;
  /** The names of the tools the request offered the model (`tools[].function.name`). */
  tools: string[];
  /** The caller (the gateway) closed the request before the answer was sent: the run was aborted. */
  aborted: boolean;
}

export interface ModelServer {
  url: string;
  requests: ModelRequest[];
  /** The assistant text for a request (default: echo of the last user message). */
  reply: (req: ModelRequest) => string;
  delayMs: number;
  /** A delay for one request (e.g. a long turn), added to delayMs. */
  delayFor: (req: ModelRequest) => number;
  waitForRequest(pred: (r: ModelRequest) => boolean, timeoutMs?: number): Promise<ModelRequest>;
  close(): Promise<void>;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === "object" && p && "text" in p ? String((p as { text: unknown }).text) : "")).join("");
  return "";
}

export async function startModelServer(): Promise<ModelServer> {
  let server: Server;
  const ms: ModelServer = {
    url: "",
    requests: [],
    reply: (r) => `echo: ${r.lastUser.slice(-200)}`,
    delayMs: 0,
    delayFor: () => 0,
    waitForRequest: async (pred, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = ms.requests.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`model server: no matching request within ${timeoutMs} ms (${ms.requests.length} seen)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === "GET" && req.url?.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "stub-1", object: "model", created: 0, owned_by: "test" }] }));
      return;
    }
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    let body: { model?: string; stream?: boolean; messages?: Array<{ role: string; content: unknown }>; tools?: Array<{ function?: { name?: string }; name?: string }> } = {};
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const users = (body.messages ?? []).filter((m) => m.role === "user");
    const lastUser = textOf(users[users.length - 1]?.content);
    const msgs = body.messages ?? [];
    let start = msgs.length;
    while (start > 0 && msgs[start - 1]!.role === "user") start--;
    const turn = msgs.slice(start).map((m) => textOf(m.content)).join("\n");
    const rec: ModelRequest = { at: Date.now(), model: body.model ?? "", lastUser, turn, allUser: users.map((m) => textOf(m.content)).join("\n"), all: (body.messages ?? []).map((m) => `[${m.role}] ${textOf(m.content)}`).join("\n"), stream: Boolean(body.stream), tools: (body.tools ?? []).map((t) => t.function?.name ?? t.name ?? "").filter(Boolean), aborted: false };
    ms.requests.push(rec);
    res.on("close", () => {
      if (!res.writableFinished) rec.aborted = true;
    });
    const delay = ms.delayMs + ms.delayFor(rec);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    if (rec.aborted) return;
    const text = ms.reply(rec);
    const id = `chatcmpl-${ms.requests.length}`;
    const created = Math.floor(Date.now() / 1000);
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id, object: "chat.completion", created, model: rec.model,
          choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
          usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    const chunk = (delta: object, finish: string | null) =>
      `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: rec.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.write(chunk({ role: "assistant", content: "" }, null));
    res.write(chunk({ content: text }, null));
    res.write(chunk({}, "stop"));
    res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model: rec.model, choices: [], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } })}\n\n`);
    res.end("data: [DONE]\n\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  ms.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return ms;
}
