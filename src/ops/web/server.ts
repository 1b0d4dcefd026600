import { isLoopback, loopbackHostAllowed } from "../../base/loopback-host.js";
import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join } from "node:path";
import { packageRoot } from "../../base/package-root.js";
import type { Logger } from "../../base/log.js";
import type { MeshModel } from "./model.js";

/**
 * The web view's HTTP side: the static page (web/ in the package), one SSE stream per open page
 * (a snapshot, then one batch of changes per flush), the snapshot as JSON, and a message body on
 * request. Read-only: GET and HEAD only. On loopback the Host header must name loopback (no DNS
 * rebinding); anywhere else a token is required (query once, then an HttpOnly cookie, or a
 * Bearer header), compared in constant time.
 */
export interface WebServerOptions {
  host: string;
  port: number;
  /** Required unless host is loopback. */
  token?: string;
  model: MeshModel;
  log: Logger;
  /** How often changes are sent to open pages (default 100 ms). */
  flushMs?: number;
  staticDir?: string;
}

export interface WebServer {
  url: string;
  port: number;
  server: Server;
  /** Open SSE streams. */
  clients(): number;
  close(): Promise<void>;
}

export const COOKIE = "mesh_web_token";
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};
/** An SSE client this far behind is dropped; its page reconnects and gets a fresh snapshot. */
const MAX_BUFFERED = 8 * 1024 * 1024;

/** The page's files: web/ at the package root. */
export function staticDirectory(): string {
  const dir = join(packageRoot(), "web");
  if (existsSync(join(dir, "index.html"))) return `${dir}/`;
  throw new Error("the web view's files (web/index.html) are missing from the package");
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

function cookieToken(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === COOKIE) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

export async function startWebServer(o: WebServerOptions): Promise<WebServer> {
  const loopback = isLoopback(o.host);
  if (!loopback && !o.token) throw new Error(`the web view on ${o.host} needs a token`);
  const dir = o.staticDir ?? staticDirectory();
  const files = new Map<string, { type: string; data: Buffer }>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type) files.set(`/${name}`, { type, data: readFileSync(join(dir, name)) });
  }
  const clients = new Set<ServerResponse>();
  let port = o.port;

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY_HEADERS, "content-type": type, ...extra });
    res.end(body);
  };

  const hostAllowed = (req: IncomingMessage): boolean => {
    if (!loopback) return true;
    return loopbackHostAllowed(req.headers.host, port);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "read-only\n", { allow: "GET, HEAD" });
    if (!hostAllowed(req)) return send(res, 421, "text/plain", "wrong Host header (open the URL mesh web printed)\n");
    const url = new URL(req.url ?? "/", "http://web.invalid");
    if (o.token) {
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
      const fromQuery = url.searchParams.get("token") ?? undefined;
      if (fromQuery !== undefined && tokenMatches(o.token, fromQuery)) {
        // Once: the token becomes a cookie and leaves the address bar (and the history).
        url.searchParams.delete("token");
        return send(res, 303, "text/plain", "", {
          location: `${url.pathname}${url.search}`,
          "set-cookie": `${COOKIE}=${encodeURIComponent(o.token)}; HttpOnly; SameSite=Strict; Path=/`,
        });
      }
      if (!tokenMatches(o.token, bearer) && !tokenMatches(o.token, cookieToken(req))) {
        return send(res, 401, "text/plain", "token required: open the URL mesh web printed (…/?token=…)\n");
      }
    }
    const path = url.pathname === "/" ? "/index.html" : url.pathname;
    if (path === "/events") return openStream(req, res);
    if (path === "/api/state") return send(res, 200, "application/json", JSON.stringify(o.model.snapshot()));
    const bodyId = /^\/api\/body\/([A-Za-z0-9_-]{1,64})$/.exec(path)?.[1];
    if (bodyId) {
      const body = o.model.body(bodyId);
      if (body === undefined) return send(res, 404, "application/json", JSON.stringify({ error: "not visible to this identity (or no longer kept)" }));
      return send(res, 200, "application/json", JSON.stringify({ id: bodyId, body }));
    }
    const file = files.get(path);
    if (!file) return send(res, 404, "text/plain", "not found\n");
    send(res, 200, file.type, file.data);
  };

  const openStream = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream", connection: "keep-alive" });
    // The page's EventSource reconnects after a second when the stream ends (a restart).
    res.write(`retry: 1000\nevent: snapshot\ndata: ${JSON.stringify(o.model.snapshot())}\n\n`);
    clients.add(res);
    req.on("close", () => clients.delete(res));
  };

  const flush = (): void => {
    const batch = o.model.drain();
    const frame = batch ? `event: batch\ndata: ${JSON.stringify(batch)}\n\n` : undefined;
    for (const res of clients) {
      if (res.writableLength > MAX_BUFFERED) {
        o.log.warn("a page fell too far behind; dropping its stream (it reconnects with a snapshot)");
        clients.delete(res);
        res.destroy();
        continue;
      }
      if (frame) res.write(frame);
    }
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, "web request failed");
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const flushTimer = setInterval(flush, o.flushMs ?? 100);
  // A comment line now and then keeps proxies and idle timeouts from closing the stream.
  const keepAlive = setInterval(() => {
    for (const res of clients) res.write(": keep-alive\n\n");
  }, 15_000);
  const shownHost = o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `http://${shownHost === "0.0.0.0" ? "127.0.0.1" : shownHost}:${port}/`,
    port,
    server,
    clients: () => clients.size,
    close: async () => {
      clearInterval(flushTimer);
      clearInterval(keepAlive);
      for (const res of clients) res.end();
      clients.clear();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
