import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedWebhook {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  at: number;
}

/** A local HTTP server that records webhook POSTs and answers with a status the test picks. */
export async function startWebhookReceiver(): Promise<{
  url: string;
  received: ReceivedWebhook[];
  status: (body: string) => number;
  close(): Promise<void>;
}> {
  let server: Server;
  const r = {
    url: "",
    received: [] as ReceivedWebhook[],
    status: (_: string) => 200,
    close: () => new Promise<void>((res) => { server.closeAllConnections(); server.close(() => res()); }),
  };
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const status = r.status(body);
    if (status === 200) r.received.push({ headers: req.headers, body, at: Date.now() });
    res.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "no");
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", () => res()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return r;
}
