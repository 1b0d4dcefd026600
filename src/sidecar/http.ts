import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { jetstreamManager } from "@nats-io/jetstream";
import { inboxConsumerName, inboxStreamName } from "../../subjects/names.js";
import type { Logger } from "../base/log.js";
import { MeshError } from "../base/errors.js";
import { isLoopback, listenerHostAllowed, loopbackHostAllowed } from "../base/loopback-host.js";
import { VERSION } from "../base/version.js";
import type { A2APeerTable } from "../agent/openclaw-a2a/peers.js";
import type { Conversations } from "../features/conversations/conversations.js";
import type { EndpointJobs } from "../features/a2a-server/executor.js";
// The A2A server (the A2A SDK, express, jose) is loaded only by a sidecar that serves it: a hooks-bridge
// sidecar never needs it (its resident memory is what issue 24 measures).
type A2AServerModule = typeof import("../features/a2a-server/server.js");
import { signerOf } from "../bus/connection.js";
import type { MeshVerifier } from "../bus/verify.js";
import type { NatsConnection } from "@nats-io/nats-core";
import type { InboxStats } from "../features/inbox/consumer.js";
import type { JobStats } from "../features/jobs/worker.js";
import type { RuleStats } from "../features/hooks/stats-file.js";

/** What the endpoints read from a running sidecar. */
export interface SidecarView {
  self: string;
  nc: NatsConnection;
  /** Connected to the broker now (false while it reconnects). */
  brokerConnected: () => boolean;
  gateway: () => "up" | "down" | "unknown";
  inbox: () => InboxStats;
  jobs: () => JobStats | undefined;
  hooks: () => Map<string, RuleStats> | undefined;
  asksAnswered: () => number;
  eventsPublished: () => number;
}

export const DEFAULT_HTTP_PORT = 9469;

function line(name: string, help: string, type: "counter" | "gauge", samples: Array<[Record<string, string>, number]>): string {
  const out = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, v] of samples) {
    const l = Object.entries(labels).map(([k, val]) => `${k}="${val.replace(/["\\\n]/g, "_")}"`).join(",");
    out.push(`${name}${l ? `{${l}}` : ""} ${v}`);
  }
  return out.join("\n");
}

/** Prometheus text for one sidecar (hand-written: a dozen numbers do not need a library). */
export async function metricsText(s: SidecarView): Promise<string> {
  let pending = -1;
  try {
    const jsm = await jetstreamManager(s.nc);
    pending = (await jsm.consumers.info(inboxStreamName(s.self), inboxConsumerName(s.self))).num_pending;
  } catch {
    /* broker unreachable (or the consumer missing): the gauge says -1, "unknown" */
  }
  const id = { identity: s.self };
  const i = s.inbox();
  const j = s.jobs() ?? { started: 0, completed: 0, failed: 0, running: 0 };
  const blocks = [
    line("mesh_inbox_delivered_total", "Messages the gateway accepted.", "counter", [[id, i.delivered]]),
    line("mesh_inbox_retried_total", "Delivery attempts that will be retried (gateway unreachable, 5xx, 429).", "counter", [[id, i.retried]]),
    line("mesh_inbox_dead_lettered_total", "Inbox messages dead-lettered with a reason.", "counter", [[id, i.deadLettered]]),
    line("mesh_inbox_dead_letters_not_kept_total", "Refused inbox messages whose dead letter the broker did not keep (that sender's share of the dead letters was full).", "counter", [[id, i.deadLettersNotKept]]),
    line("mesh_inbox_duplicates_skipped_total", "Redeliveries found in the delivered journal (not delivered twice).", "counter", [[id, i.duplicatesSkipped]]),
    line("mesh_inbox_lag", "Messages waiting in this identity's inbox (-1: unknown).", "gauge", [[id, pending]]),
    line("mesh_jobs_started_total", "Job runs started here.", "counter", [[id, j.started]]),
    line("mesh_jobs_completed_total", "Job runs completed here.", "counter", [[id, j.completed]]),
    line("mesh_jobs_failed_total", "Job runs that failed here.", "counter", [[id, j.failed]]),
    line("mesh_gateway_up", "1 when the local gateway accepts deliveries, 0 when not, -1 unknown.", "gauge", [
      [id, s.gateway() === "up" ? 1 : s.gateway() === "down" ? 0 : -1],
    ]),
    line("mesh_broker_connected", "1 while connected to the broker.", "gauge", [[id, s.brokerConnected() ? 1 : 0]]),
    line("mesh_asks_answered_total", "Asks answered.", "counter", [[id, s.asksAnswered()]]),
    line("mesh_events_published_total", "Lifecycle events published.", "counter", [[id, s.eventsPublished()]]),
  ];
  const hooks = s.hooks();
  if (hooks) {
    const rules = [...hooks.entries()];
    blocks.push(line("mesh_hooks_fired_total", "Hook actions that succeeded.", "counter", rules.map(([r, st]) => [{ ...id, rule: r }, st.fired])));
    blocks.push(line("mesh_hooks_refused_total", "Events refused before matching (unverified sender, wrong shape).", "counter", rules.map(([r, st]) => [{ ...id, rule: r }, st.refused])));
    blocks.push(line("mesh_hooks_dead_lettered_total", "Hook actions given up on.", "counter", rules.map(([r, st]) => [{ ...id, rule: r }, st.deadLettered])));
  }
  return `${blocks.join("\n")}\n`;
}

/** The A2A bridge's routes, when the sidecar bridges through OpenClaw's A2A channel. */
export interface A2ARoutes {
  table: A2APeerTable;
  conversations: Conversations;
  /** Jobs the agent submits natively (a2a:jobs.<queue>[.<caps>]). */
  jobs?: EndpointJobs;
  verifier: MeshVerifier;
  /** Opt-in: also serve the A2A server (only it) on this address beyond loopback (config sidecar.a2aHost/a2aPort). */
  listen?: { host: string; port: number };
}

/**
 * On 127.0.0.1 only: /healthz, /metrics, and with the A2A bridge the A2A server of every mesh
 * identity (/a2a/peers/<id>/v1 JSON-RPC, /a2a/peers/<id>/rest, their cards) and the sidecar's
 * Agent Card (/.well-known/agent-card.json), served by features/a2a-server on the A2A SDK.
 */
export async function startHttp(s: SidecarView, port: number, log: Logger, a2a?: A2ARoutes): Promise<Server> {
  const mod: A2AServerModule | undefined = a2a ? await import("../features/a2a-server/server.js") : undefined;
  const a2aApp = a2a && mod
    ? await mod.a2aServer({
        nc: s.nc,
        self: s.self,
        version: VERSION,
        base: () => a2a.table.endpointBase,
        ...(a2a.listen ? { offMacBase: `http://${a2a.listen.host.includes(":") ? `[${a2a.listen.host}]` : a2a.listen.host}:${a2a.listen.port}` } : {}),
        auth: { callerOf: (peer, token) => a2a.table.callerOf(peer, token), peers: () => a2a.table.ids() },
        conversations: a2a.conversations,
        verifier: a2a.verifier,
        ...(signerOf(s.nc) ? { signer: signerOf(s.nc)! } : {}),
        log,
        ...(a2a.jobs ? { jobs: a2a.jobs } : {}),
      })
    : undefined;
  const server = createServer((req, res) => {
    // Loopback only, so the Host must name loopback and this port (a rebound attacker.example is refused).
    if (!loopbackHostAllowed(req.headers.host, (server.address() as AddressInfo).port)) {
      res.writeHead(421, { "content-type": "text/plain" }).end("wrong Host header: this sidecar answers only http://127.0.0.1:<port>/\n");
      return;
    }
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (a2aApp && (path.startsWith("/a2a/") || path === "/.well-known/agent-card.json" || path === "/.well-known/jwks.json")) {
      a2aApp.app(req, res);
      return;
    }
    if (a2a && path === "/.well-known/agent.json" && req.method === "GET") {
      res.writeHead(301, { location: "/.well-known/agent-card.json" }).end();
      return;
    }
    if (req.url === "/healthz") {
      const ok = s.brokerConnected();
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok, identity: s.self, gateway: s.gateway() }));
      return;
    }
    if (req.url === "/metrics") {
      void metricsText(s).then(
        (text) => res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
  } catch (err) {
    // Never half-started: a sidecar without its port would look online while nothing reaches it.
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new MeshError(`the sidecar's HTTP port 127.0.0.1:${port} is not available (${code}): is another sidecar running on this machine? Set sidecar.httpPort in the config to a free port`, 1, { cause: err });
  }
  log.info({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, a2a ? "metrics, healthz and the A2A endpoint" : "metrics and healthz");
  const outside = a2aApp && mod && a2a?.listen ? await startA2AListener(a2aApp.app, a2a.listen, log, mod.OFF_MAC) : undefined;
  server.on("close", () => {
    outside?.close();
    outside?.closeAllConnections();
    a2aApp?.close();
  });
  return server;
}

/**
 * The opt-in A2A listener beyond loopback (sidecar.a2aHost): the A2A routes and cards only, no
 * /metrics or /healthz; the Host must name the configured address (or loopback) and its port;
 * only client tokens (sidecar.a2aClients) are taken here, never the gateway's.
 */
async function startA2AListener(app: (req: IncomingMessage, res: ServerResponse) => void, at: { host: string; port: number }, log: Logger, OFF_MAC: symbol): Promise<Server> {
  const server = createServer((req, res) => {
    if (!listenerHostAllowed(req.headers.host, at.host, at.port)) {
      res.writeHead(421, { "content-type": "text/plain" }).end(`wrong Host header: this listener answers only http://${at.host}:${at.port}/\n`);
      return;
    }
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (!(path.startsWith("/a2a/") || path === "/.well-known/agent-card.json" || path === "/.well-known/jwks.json")) {
      res.writeHead(404).end();
      return;
    }
    (req as unknown as Record<symbol, unknown>)[OFF_MAC] = true;
    app(req, res);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(at.port, at.host, () => resolve());
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new MeshError(`the sidecar's A2A listener ${at.host}:${at.port} is not available (${code}): set sidecar.a2aPort to a free port, or sidecar.a2aHost to an address of this machine`, 1, { cause: err });
  }
  if (!isLoopback(at.host)) {
    log.warn(
      { url: `http://${at.host}:${at.port}` },
      "WARNING: the A2A server also listens beyond loopback: any client that can reach it and holds a token from sidecar.a2aClients talks to the mesh as this identity (plain HTTP: keep it on the tailnet)",
    );
  }
  return server;
}
