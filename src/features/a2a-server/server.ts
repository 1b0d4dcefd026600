import express, { type Request, type Response, type NextFunction } from "express";
import {
  DefaultExecutionEventBusManager,
  DefaultRequestHandler,
  InMemoryTaskStore,
  ResultManager,
  ServerCallContext,
  type AgentExecutionEvent,
  type TaskStore,
  type User,
} from "@a2a-js/sdk/server";
import { jetstreamManager } from "@nats-io/jetstream";
import { jsonRpcHandler, restHandler } from "@a2a-js/sdk/server/express";
import { A2A_PROTOCOL_VERSION, A2A_VERSION_HEADER } from "@a2a-js/sdk";
import type { NatsConnection } from "@nats-io/nats-core";
import { isIdentity, parseJobPeer } from "../../../subjects/mod.js";
import type { Logger } from "../../base/log.js";
import type { MeshVerifier } from "../../bus/verify.js";
import type { Conversations } from "../conversations/conversations.js";
import { JSONRPC_PATH, REST_PATH, peerCard, sidecarCard } from "./card.js";
import { jwkOfNkey, signCard, type CardSigner } from "./card-signature.js";
import { provisionIdentity } from "../../../broker/provision.js";
import { firstLine } from "../../base/nats-errors.js";
import { GATEWAY_CALLER, MeshExecutor, askReplySubject, type EndpointJobs } from "./executor.js";
import { A2ATaskBucket, unfinished } from "./task-store.js";
import { MemoryMessageIds, MeshRequestHandler, messageKey } from "./handler.js";
import { PeerProgress } from "./progress.js";

/** The JSON-RPC methods of A2A 1.0 that the SDK's handler serves. */
const JSONRPC_METHODS = new Set([
  "SendMessage",
  "SendStreamingMessage",
  "GetTask",
  "ListTasks",
  "CancelTask",
  "SubscribeToTask",
  "CreateTaskPushNotificationConfig",
  "GetTaskPushNotificationConfig",
  "ListTaskPushNotificationConfigs",
  "DeleteTaskPushNotificationConfig",
  "GetExtendedAgentCard",
]);

/** Who may call a peer's URL: the name of the caller a bearer token belongs to, or undefined. */
export interface A2AAuth {
  callerOf(peer: string, token: string): string | undefined;
  /** The identities (and job peers) this sidecar serves. */
  peers(): string[];
}

export interface A2AServerOptions {
  nc: NatsConnection;
  self: string;
  version: string;
  /** This sidecar's base URL as clients reach it (http://127.0.0.1:9469); read per request. */
  base: () => string;
  /** The base URL of the opt-in listener beyond loopback (http://100.x.y.z:9470), when there is one. */
  offMacBase?: string;
  auth: A2AAuth;
  conversations: Conversations;
  verifier: MeshVerifier;
  /** The identity's nkey signer (a secure mesh): the Agent Cards are signed with it (JWS). */
  signer?: CardSigner;
  log: Logger;
  jobs?: EndpointJobs;
}

class Caller implements User {
  constructor(readonly userName: string) {}
  get isAuthenticated(): boolean {
    return true;
  }
}

const PEER_PREFIX = "/a2a/peers/:peer";

/**
 * Where tasks are kept: the identity's A2A bucket (made here on an open mesh when missing), else
 * in memory with a warning (a secure mesh whose admin has not provisioned it yet).
 */
async function taskBucket(o: A2AServerOptions): Promise<A2ATaskBucket | undefined> {
  try {
    const have = await A2ATaskBucket.open(o.nc, o.self);
    if (have) return have;
    await provisionIdentity(await jetstreamManager(o.nc), o.self);
    return await A2ATaskBucket.open(o.nc, o.self);
  } catch (err) {
    o.log.warn({ err: firstLine(err) }, `A2A tasks are kept in memory only (lost on restart): no task bucket; the admin runs \`mesh broker provision --for ${o.self}\``);
    return undefined;
  }
}

/**
 * The sidecar's A2A server on the official SDK (@a2a-js/sdk): per mesh identity a JSON-RPC URL
 * (`/a2a/peers/<id>/v1`), a REST one (`/a2a/peers/<id>/rest`) and a card
 * (`/a2a/peers/<id>/.well-known/agent-card.json`), each a DefaultRequestHandler over the
 * MeshExecutor; `/.well-known/agent-card.json` lists them all. A bearer token is checked before
 * anything reaches the SDK. Returns an express app the sidecar's HTTP server hands requests to.
 */
export async function a2aServer(o: A2AServerOptions) {
  const progress = new PeerProgress(o.nc, o.self, o.verifier, o.log);
  const bucket = await taskBucket(o);
  const handlers = new Map<
    string,
    { jsonRpc: express.RequestHandler; rest: express.RequestHandler; card: express.RequestHandler; executor: MeshExecutor; store: TaskStore; buses: DefaultExecutionEventBusManager }
  >();
  const userBuilder = async (req: Request): Promise<User> => new Caller(String((req as Request & { a2aCaller?: string }).a2aCaller ?? ""));

  const served = (peer: string): boolean => (isIdentity(peer) && peer !== o.self) || (o.jobs !== undefined && parseJobPeer(peer) !== undefined);

  function forPeer(peer: string) {
    const have = handlers.get(peer);
    if (have) return have;
    const card = (base = o.base()) => peerCard({ self: o.self, base, peer, version: o.version });
    const signed = (base: string) => (o.signer ? signCard(card(base), o.signer) : card(base));
    let mesh: MeshRequestHandler | undefined;
    const executor = new MeshExecutor({
      nc: o.nc,
      self: o.self,
      peer,
      progress,
      conversations: o.conversations,
      ...(o.jobs ? { jobs: o.jobs } : {}),
      onStart: (ctx) => mesh!.taskStarted(messageKey(ctx.context, ctx.userMessage.messageId), ctx.taskId),
    });
    const kept = bucket?.forPeer(peer);
    const store = kept ?? new InMemoryTaskStore();
    const buses = new DefaultExecutionEventBusManager();
    const sdk = new DefaultRequestHandler(card(), store, executor, buses);
    // The card's URLs follow the listener (its port is known only once it listens).
    sdk.getAgentCard = async () => card();
    mesh = new MeshRequestHandler(sdk, kept ?? new MemoryMessageIds());
    const made = {
      executor,
      store,
      buses,
      jsonRpc: jsonRpcHandler({ requestHandler: mesh, userBuilder }),
      rest: restHandler({ requestHandler: mesh, userBuilder }),
      card: ((req, res) => sendCard(res, signed(baseOf(req)))) as express.RequestHandler,
    };
    handlers.set(peer, made);
    return made;
  }

  const app = express();
  app.disable("x-powered-by");
  const baseOf = (req: Request): string => (offMac(req) && o.offMacBase ? o.offMacBase : o.base());
  app.get("/.well-known/agent-card.json", (req, res) => {
    const card = sidecarCard({ self: o.self, base: baseOf(req), peers: o.auth.peers(), version: o.version });
    sendCard(res, o.signer ? signCard(card, o.signer) : card);
  });
  // The key the cards are signed with (the identity's public nkey, also in the mesh's registry).
  app.get("/.well-known/jwks.json", (_req, res) => void res.json({ keys: o.signer ? [{ ...jwkOfNkey(o.signer.publicKey), alg: "EdDSA", use: "sig" }] : [] }));
  app.use(`${PEER_PREFIX}/.well-known/agent-card.json`, (req, res, next) => {
    const peer = peerOf(req);
    if (!served(peer)) return notServed(res, peer);
    forPeer(peer).card(req, res, next);
  });
  // Everything else under a peer needs a token.
  app.use(PEER_PREFIX, (req: Request, res: Response, next: NextFunction) => {
    const peer = peerOf(req);
    if (!served(peer)) return notServed(res, peer);
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const caller = token ? o.auth.callerOf(peer, token) : undefined;
    if (!caller) {
      res.status(401).setHeader("WWW-Authenticate", 'Bearer realm="openclaw-mesh"');
      res.json({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "unauthorized: a bearer token this sidecar issued for this peer is required" } });
      return;
    }
    if (caller === GATEWAY_CALLER && offMac(req)) {
      res.status(401).setHeader("WWW-Authenticate", 'Bearer realm="openclaw-mesh"');
      res.json({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "unauthorized: the gateway's token is taken on loopback only; a client off this Mac needs its own token (sidecar.a2aClients)" } });
      return;
    }
    (req as Request & { a2aCaller?: string }).a2aCaller = caller;
    // OpenClaw's A2A channel speaks 1.0 but sends no A2A-Version header; absent means 1.0 here.
    if (!req.headers[A2A_VERSION_HEADER.toLowerCase()]) req.headers[A2A_VERSION_HEADER.toLowerCase()] = A2A_PROTOCOL_VERSION;
    next();
  });
  // An unknown method is -32601 (JSON-RPC 2.0, A2A §9), whatever its params: the SDK checks a
  // request's params before its method, so a method it lacks, sent without params, would be -32602.
  const parseJson = express.json({ limit: "2mb" });
  app.post(`${PEER_PREFIX}/${JSONRPC_PATH}`, (req, res, next) =>
    parseJson(req, res, (err?: unknown) => {
      if (err) {
        res.json({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error: the request is not JSON" } });
        return;
      }
      next();
    }),
  );
  app.post(`${PEER_PREFIX}/${JSONRPC_PATH}`, (req, res, next) => {
    const body = req.body as { method?: unknown; id?: unknown } | undefined;
    if (body && typeof body === "object" && !Array.isArray(body) && typeof body.method === "string" && !JSONRPC_METHODS.has(body.method)) {
      res.json({ jsonrpc: "2.0", id: body.id ?? null, error: { code: -32601, message: `method not found: ${body.method.slice(0, 64)}` } });
      return;
    }
    next();
  });
  app.use(`${PEER_PREFIX}/${JSONRPC_PATH}`, (req, res, next) => forPeer(peerOf(req)).jsonRpc(req, res, next));
  app.use(`${PEER_PREFIX}/${REST_PATH}`, (req, res, next) => forPeer(peerOf(req)).rest(req, res, next));
  app.use((_req, res) => void res.status(404).end());
  /**
   * A task a previous run stored and did not see end is followed again: its events go through
   * the SDK's ResultManager into the store and onto a bus, so GetTask, SubscribeToTask and
   * CancelTask work on it as on a new one. An ask's answer that came while the sidecar was down
   * is read from REPLIES-<self>.
   */
  const resumed: Array<Promise<void>> = [];
  for (const r of bucket ? await unfinished(bucket) : []) {
    if (!served(r.peer)) continue;
    const h = forPeer(r.peer);
    const ctx = new ServerCallContext({ user: new Caller(r.owner) });
    const bus = h.buses.createOrGetByTaskId(r.task.id, ctx);
    const rm = new ResultManager(h.store, ctx);
    let chain = Promise.resolve();
    const emit = (e: AgentExecutionEvent) => {
      chain = chain
        .then(() => rm.processEvent(e))
        .then(() => bus.publish(e))
        .catch((err: Error) => o.log.error({ task: r.task.id, err: err.message }, "A2A: could not record a resumed task's event"));
    };
    const ask = r.owner !== GATEWAY_CALLER && r.task.metadata?.job === undefined;
    const answered = ask ? progress.storedReply(r.peer, r.task.id, askReplySubject(o.self, r.task.id)).catch(() => undefined) : undefined;
    o.log.info({ task: r.task.id, peer: r.peer }, "A2A: following a task again after a restart");
    resumed.push(
      h.executor
        .resume(r.task, r.owner, emit, answered)
        .then(() => chain)
        .finally(() => {
          bus.finished();
          h.buses.cleanupByTaskId(r.task.id, ctx);
        }),
    );
  }

  return {
    app,
    resumed: resumed.length,
    close: () => {
      for (const h of handlers.values()) h.executor.close();
      progress.close();
    },
  };
}

/** Marks a request that came through the listener beyond loopback (set by the sidecar's HTTP layer). */
export const OFF_MAC = Symbol("mesh-a2a-off-mac");

function offMac(req: Request): boolean {
  return (req as unknown as Record<symbol, unknown>)[OFF_MAC] === true;
}

function sendCard(res: Response, card: unknown): void {
  res.setHeader("Cache-Control", "no-cache");
  res.json(card);
}

function peerOf(req: Request): string {
  return String(req.params.peer ?? "");
}

function notServed(res: Response, peer: string): void {
  res.status(404).json({ jsonrpc: "2.0", id: null, error: { code: -32600, message: `no mesh peer ${JSON.stringify(peer).slice(0, 40)} here` } });
}
