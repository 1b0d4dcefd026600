import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

/**
 * A small JSON POST over node:http with keep-alive connections: per message it costs a fraction
 * of the CPU of fetch (undici), which matters when every inbox message is one POST.
 */
const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 32 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 32 }) };

export interface PostResult {
  status: number;
  text: string;
}

export class PostError extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

export function postJson(
  url: string,
  headers: Record<string, string>,
  body: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const secure = u.protocol === "https:";
    const req = (secure ? httpsRequest : httpRequest)(
      u,
      {
        method: "POST",
        agent: secure ? agents.https : agents.http,
        headers: { ...headers, "content-length": Buffer.byteLength(body) },
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", (err) => {
          clearTimeout(timer);
          reject(new PostError(err.message, false));
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new PostError(`no answer within ${opts.timeoutMs} ms`, true));
    }, opts.timeoutMs);
    req.on("error", (err: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(err instanceof PostError ? err : new PostError(err.code ?? err.message, false));
    });
    req.end(body);
  });
}
