import WebSocket from "ws";
import { RESUME_BACKOFF, backoffDelay } from "../../base/backoff.js";
import type { Logger } from "../../base/log.js";
import { connectParams, frameError, parseFrame } from "../openclaw-ws.js";

type Answer = { ok: boolean; payload?: unknown; error?: unknown };

/**
 * The transport of the gateway watch: one long-lived WebSocket to the OpenClaw gateway, as a
 * trusted local backend with scope `operator.read` only, subscribed to its sessions
 * (`sessions.subscribe`); reconnected with {@link RESUME_BACKOFF} whenever it drops. Hands every
 * event frame to `onEvent`; knows nothing of what the events mean.
 */
export class GatewaySocket {
  private ws?: WebSocket;
  private closed = false;
  private attempt = 0;
  private nextId = 0;
  private readonly waiting = new Map<string, (f: Answer) => void>();
  /** Handshake done and sessions subscribed. */
  connected = false;

  constructor(private readonly opts: { url: string; token: string; log: Logger; onEvent: (event: string, payload: unknown) => void }) {}

  open(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.opts.url, { handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on("message", (data) => this.onFrame(String(data)));
    ws.on("error", (err) => this.opts.log.debug({ err: err.message }, "gateway websocket error"));
    ws.on("close", () => {
      this.connected = false;
      for (const cb of this.waiting.values()) cb({ ok: false, error: "closed" });
      this.waiting.clear();
      if (this.closed) return;
      this.attempt++;
      setTimeout(() => this.open(), backoffDelay(this.attempt, RESUME_BACKOFF)).unref();
    });
  }

  close(): void {
    this.closed = true;
    this.ws?.close();
  }

  private request(method: string, params: unknown, timeoutMs = 10_000): Promise<Answer> {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.resolve({ ok: false, error: "not connected" });
    const id = `m${++this.nextId}`;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ ok: false, error: "timeout" });
      }, timeoutMs);
      this.waiting.set(id, (f) => {
        clearTimeout(t);
        resolve(f);
      });
      ws.send(JSON.stringify({ type: "req", id, method, params }));
    });
  }

  private async handshake(): Promise<void> {
    const hello = await this.request("connect", connectParams(this.opts.token, ["operator.read"]));
    if (!hello.ok) {
      this.opts.log.warn({ reason: frameError(hello.error).message }, "gateway websocket refused the connection");
      this.ws?.close();
      return;
    }
    const sub = await this.request("sessions.subscribe", {});
    if (!sub.ok) this.opts.log.warn({ error: sub.error }, "sessions.subscribe failed; ask replies may time out");
    this.connected = true;
    this.attempt = 0;
    this.opts.log.info("gateway websocket connected (operator.read)");
  }

  private onFrame(text: string): void {
    const f = parseFrame(text);
    if (!f) return;
    if (f.type === "res") {
      const cb = this.waiting.get(f.id);
      if (cb) {
        this.waiting.delete(f.id);
        cb(f);
      }
      return;
    }
    if (f.event === "connect.challenge") void this.handshake();
    else this.opts.onEvent(f.event, f.payload);
  }
}
