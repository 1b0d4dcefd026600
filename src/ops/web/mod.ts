import { randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/nats-core";
import { PRESENCE_TTL_MS } from "../../../broker/definitions.js";
import type { Logger } from "../../base/log.js";
import { STALE_AFTER_MS } from "../../features/presence/presence.js";
import { MeshModel } from "./model.js";
import { startWebServer } from "./server.js";
import { isLoopback } from "../../base/loopback-host.js";
import { MeshSource } from "./source.js";

/**
 * `mesh web`: a live, read-only page of the mesh as this identity sees it. The model (model.ts)
 * is fed by the bus reader (source.ts) and served by server.ts; the page itself is web/.
 */
export interface WebViewOptions {
  nc: NatsConnection;
  self: string;
  host?: string;
  port?: number;
  /** Required off loopback; generated when missing there. */
  token?: string;
  staleAfterMs?: number;
  offlineAfterMs?: number;
  inboxPollMs?: number;
  /** Leaf mode (config `leaf`): the page shows this Mac's link to the hub. */
  leaf?: { mac: string; stateDir: string };
  log: Logger;
}

export interface WebView {
  url: string;
  port: number;
  /** Set when the page needs one (off loopback); generated if none was given. */
  token?: string;
  /** True when the token was made here (print it once). */
  generatedToken: boolean;
  model: MeshModel;
  close(): Promise<void>;
}

import { DEFAULT_WEB_PORT } from "./defaults.js";
export { DEFAULT_WEB_PORT };

export async function startWebView(o: WebViewOptions): Promise<WebView> {
  const host = o.host ?? "127.0.0.1";
  const needsToken = !isLoopback(host);
  const token = o.token ?? (needsToken ? randomBytes(24).toString("base64url") : undefined);
  const model = new MeshModel({
    self: o.self,
    staleAfterMs: o.staleAfterMs ?? STALE_AFTER_MS,
    offlineAfterMs: o.offlineAfterMs ?? PRESENCE_TTL_MS,
  });
  // Listen first: a port in use is reported before anything is read from the bus.
  const server = await startWebServer({ host, port: o.port ?? DEFAULT_WEB_PORT, ...(token ? { token } : {}), model, log: o.log });
  const source = new MeshSource({ nc: o.nc, self: o.self, model, log: o.log, ...(o.inboxPollMs ? { inboxPollMs: o.inboxPollMs } : {}), ...(o.leaf ? { leaf: o.leaf } : {}) });
  try {
    await source.start();
  } catch (err) {
    source.stop();
    await server.close();
    throw err;
  }
  const tick = setInterval(() => model.tick(), 1000);
  return {
    url: server.url,
    port: server.port,
    ...(token ? { token } : {}),
    generatedToken: token !== undefined && o.token === undefined,
    model,
    close: async () => {
      clearInterval(tick);
      source.stop();
      await server.close();
    },
  };
}
