/**
 * A small HTTP endpoint speaking OpenClaw's hooks contract (POST <path>/agent with a Bearer token →
 * 200 {"ok":true,"runId":…}). For load and fault tests only; the same path is covered against a
 * real gateway in test/integration/sidecar-gateway.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";

export interface ReceivedHook {
  path: string;
  auth: string | undefined;
  body: { message?: string; name?: string; sessionKey?: string; [k: string]: unknown };
  at: number;
  runId: string;
}

/** One POST as it reached the endpoint, whatever the answer: refused, replayed or a new turn. */
export interface PostedHook {
  path: string;
  at: number;
  /** The Idempotency-Key header, if any. */
  idempotencyKey: string | undefined;
  /** The parsed body, or undefined when it was not JSON / too large. */
  body: ReceivedHook["body"] | undefined;
  /** The status the endpoint answered (0 until it answered). */
  status: number;
  /** When the answer was sent (0 until then). */
  answeredAt: number;
  /** Answered from the Idempotency-Key cache (no new turn). */
  replay: boolean;
  /** Started a new agent turn (recorded in `received`). */
  turn: boolean;
}

export type Responder = (req: ReceivedHook) => { status: number; body?: unknown; delayMs?: number } | undefined;

export interface HooksEndpoint {
  url: string;
  port: number;
  token: string;
  /** Agent turns started: POSTs answered 200 that were not an Idempotency-Key replay (what existing callers count). */
  received: ReceivedHook[];
  /** Override the answer (default 200 {ok:true,runId}). */
  respond: Responder | undefined;
  /** Called for every accepted hook (benchmarks time arrivals here). */
  onHook: ((h: ReceivedHook) => void) | undefined;
  /** Keep received hooks in `received` (turn off for long benchmark runs). */
  record: boolean;
  /** Requests answered from the Idempotency-Key cache (the gateway replays, it does not run again). */
  replayed: number;
  /** Every POST that reached the endpoint: refused, replayed and new turns alike. */
  posts: number;
  /** Every POST as it arrived (kept while `record` is on), replays and refusals included, in arrival order. */
  postLog: PostedHook[];
  /** Bodies above this many bytes get 413, as the gateway's hooks body limit does. */
  maxBodyBytes: number;
  /** Stop listening (connections refused) until start() again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startHooksEndpoint(opts: { token?: string; port?: number } = {}): Promise<HooksEndpoint> {
  const token = opts.token ?? "test-hooks-token";
  let server: Server | undefined;
  // As the gateway does (docs: hook retries): a repeated Idempotency-Key replays the admitted run.
  const seenKeys = new Map<string, string>();
  const ep: HooksEndpoint = {
    url: "",
    port: opts.port ?? 0,
    token,
    received: [],
    respond: undefined,
    onHook: undefined,
    record: true,
    replayed: 0,
    posts: 0,
    postLog: [],
    maxBodyBytes: 256 * 1024,
    stop: async () => {
      if (!server) return;
      const s = server;
      server = undefined;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
    start: async () => {
      if (server) return;
      server = createServer((req, res) => void handle(req, res));
      await new Promise<void>((r) => server!.listen(ep.port, "127.0.0.1", () => r()));
      ep.port = (server.address() as AddressInfo).port;
      ep.url = `http://127.0.0.1:${ep.port}`;
    },
    close: () => ep.stop(),
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const keyHeader = req.headers["idempotency-key"];
    const key = typeof keyHeader === "string" ? keyHeader : undefined;
    const isPost = req.method === "POST";
    // Every POST is counted and logged before anything can answer it, so no request is invisible.
    const post: PostedHook | undefined = isPost
      ? { path: req.url ?? "", at: Date.now(), idempotencyKey: key, body: undefined, status: 0, answeredAt: 0, replay: false, turn: false }
      : undefined;
    if (post) {
      ep.posts++;
      if (ep.record) ep.postLog.push(post);
    }
    const send = (status: number, body: unknown): void => {
      if (post) {
        post.status = status;
        post.answeredAt = Date.now();
      }
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (!isPost || !req.url?.startsWith("/hooks/")) return send(404, { ok: false, error: "not found" });
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, { ok: false, error: "unauthorized" });
    if (Buffer.concat(chunks).length > ep.maxBodyBytes) return send(413, { ok: false, error: "payload too large" });
    let body: ReceivedHook["body"];
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return send(400, { ok: false, error: "invalid json" });
    }
    post!.body = body;
    // As the gateway does: an agent turn needs a message, a wake needs text.
    if (req.url === "/hooks/agent" && (typeof body.message !== "string" || body.message.length === 0)) return send(400, { ok: false, error: "message required" });
    if (req.url === "/hooks/wake" && typeof body.text !== "string") return send(400, { ok: false, error: "text required" });
    const hook: ReceivedHook = { path: req.url, auth: req.headers.authorization, body, at: post!.at, runId: randomUUID() };
    if (key !== undefined && seenKeys.has(key)) {
      ep.replayed++;
      post!.replay = true;
      return send(200, { ok: true, runId: seenKeys.get(key) });
    }
    const custom = ep.respond?.(hook);
    if (custom?.delayMs) await new Promise((r) => setTimeout(r, custom.delayMs));
    if (custom && custom.status !== 200) return send(custom.status, custom.body ?? { ok: false, error: `status ${custom.status}` });
    if (custom?.body === "garbage") {
      post!.status = 200;
      post!.answeredAt = Date.now();
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>not a gateway</html>");
      return;
    }
    if (key !== undefined) seenKeys.set(key, hook.runId);
    post!.turn = true;
    if (ep.record) ep.received.push(hook);
    ep.onHook?.(hook);
    send(200, custom?.body ?? { ok: true, runId: hook.runId });
  }

  await ep.start();
  return ep;
}
