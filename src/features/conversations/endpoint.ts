import { defaultConversation, isIdentity, parseJobPeer } from "../../../subjects/mod.js";
import { firstLine } from "../../base/nats-errors.js";
import {
  RpcCodes,
  TaskStates,
  getTaskParamsSchema,
  partsText,
  requestSchema,
  rpcError,
  rpcResult,
  sendParamsSchema,
} from "../../agent/openclaw-a2a/wire.js";
import type { Conversations } from "./conversations.js";

/** Largest JSON-RPC request taken (OpenClaw's own A2A limit). */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/** Largest message text (OpenClaw caps extracted text at 64 KiB). */
export const MAX_A2A_TEXT_BYTES = 64 * 1024;

export interface EndpointAuth {
  /** True when `token` may send as this identity to `peer` (the gateway's outboundToken for it). */
  check(peer: string, token: string): boolean;
}

/** Jobs the agent submits natively (features/jobs/native.ts), on the job peers' URLs. */
export interface EndpointJobs {
  submit(peer: string, text: string, context: string): Promise<{ id: string; context: string }>;
  task(id: string): { peer: string; context: string; answer?: string } | undefined;
}

export interface EndpointReply {
  status: number;
  body: string;
}

/**
 * The sidecar's A2A 1.0 JSON-RPC endpoint, one URL per mesh identity
 * (`/a2a/peers/<peer>/v1`): what this Mac's gateway calls when its agent sends `a2a:<peer>`, and
 * what any A2A client with a token calls. SendMessage stores the message durably on
 * agent.<peer>.inbox.<self> and answers only after JetStream acked it (TASK_STATE_WORKING); GetTask
 * reports the peer's answer when it arrives (TASK_STATE_COMPLETED). Bad input is a JSON-RPC error;
 * nothing here throws.
 */
export function a2aEndpoint(o: { self: string; auth: EndpointAuth; conversations: Conversations; jobs?: EndpointJobs }) {
  return async (peer: string, authorization: string | undefined, raw: string): Promise<EndpointReply> => {
    const token = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
    // A job peer (jobs.<queue>[.<caps>]): a message to it is a job this identity submits.
    const jobs = o.jobs && parseJobPeer(peer) ? o.jobs : undefined;
    if (!jobs && (!isIdentity(peer) || peer === o.self)) return { status: 404, body: rpcError(null, RpcCodes.InvalidRequest, `no mesh peer ${JSON.stringify(peer).slice(0, 40)} here`) };
    if (!token || !o.auth.check(peer, token)) return { status: 401, body: rpcError(null, RpcCodes.Unauthorized, "unauthorized") };
    if (Buffer.byteLength(raw) > MAX_REQUEST_BYTES) return { status: 413, body: rpcError(null, RpcCodes.InvalidRequest, `request larger than ${MAX_REQUEST_BYTES} bytes`) };
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { status: 200, body: rpcError(null, RpcCodes.ParseError, "parse error: not JSON") };
    }
    const req = requestSchema.safeParse(json);
    if (!req.success) return { status: 200, body: rpcError(null, RpcCodes.InvalidRequest, "invalid request: expected JSON-RPC 2.0 with a method") };
    const { id, method, params } = req.data;
    switch (method) {
      case "SendMessage":
      case "message/send": {
        const p = sendParamsSchema.safeParse(params);
        if (!p.success) return { status: 200, body: rpcError(id, RpcCodes.InvalidParams, "invalid params: expected { message: { messageId, parts: [{ text }] } }") };
        const text = partsText(p.data.message.parts);
        if (!text.trim()) return { status: 200, body: rpcError(id, RpcCodes.InvalidParams, "invalid params: the message has no text") };
        if (Buffer.byteLength(text) > MAX_A2A_TEXT_BYTES) return { status: 200, body: rpcError(id, RpcCodes.InvalidParams, `invalid params: text larger than ${MAX_A2A_TEXT_BYTES} bytes`) };
        if (jobs) {
          try {
            const job = await jobs.submit(peer, text, p.data.message.contextId ?? defaultConversation(o.self));
            return { status: 200, body: rpcResult(id, { task: { id: job.id, contextId: job.context, status: { state: TaskStates.working, timestamp: new Date().toISOString() } } }) };
          } catch (err) {
            return { status: 200, body: rpcError(id, RpcCodes.Internal, `job not submitted: ${firstLine(err)}`) };
          }
        }
        try {
          const sent = await o.conversations.send(peer, text, p.data.message.messageId, p.data.message.contextId);
          return { status: 200, body: rpcResult(id, { task: { id: sent.id, contextId: sent.context, status: { state: TaskStates.working, timestamp: new Date().toISOString() } } }) };
        } catch (err) {
          return { status: 200, body: rpcError(id, RpcCodes.Internal, `not stored: ${firstLine(err)}`) };
        }
      }
      case "GetTask":
      case "tasks/get": {
        const p = getTaskParamsSchema.safeParse(params);
        if (!p.success) return { status: 200, body: rpcError(id, RpcCodes.InvalidParams, "invalid params: expected { id }") };
        const t = jobs ? jobTask(jobs, p.data.id, peer) : o.conversations.task(p.data.id);
        if (!t || t.to !== peer) return { status: 200, body: rpcError(id, RpcCodes.TaskNotFound, "Task not found") };
        const done = t.answer !== undefined;
        return {
          status: 200,
          body: rpcResult(id, {
            id: p.data.id,
            contextId: t.context,
            status: { state: done ? TaskStates.completed : TaskStates.working },
            ...(done ? { artifacts: [{ artifactId: `${p.data.id}-answer`, parts: [{ text: t.answer }] }] } : {}),
          }),
        };
      }
      case "CancelTask":
      case "tasks/cancel":
        return { status: 200, body: rpcError(id, RpcCodes.UnsupportedOperation, "a message stored on the mesh cannot be called back") };
      default:
        return { status: 200, body: rpcError(id, RpcCodes.MethodNotFound, `method not found: ${method.slice(0, 60)}`) };
    }
  };
}

function jobTask(jobs: EndpointJobs, id: string, peer: string): { to: string; context: string; answer?: string } | undefined {
  const t = jobs.task(id);
  return t && t.peer === peer ? { to: peer, context: t.context, ...(t.answer !== undefined ? { answer: t.answer } : {}) } : undefined;
}

/** The Agent Card of this sidecar: every mesh identity it can reach, as an A2A skill with its URL. */
export function agentCard(o: { self: string; base: string; peers: string[]; version: string }): object {
  return {
    name: `openclaw-mesh via ${o.self}`,
    description: `The openclaw-mesh identities reachable through ${o.self}'s sidecar; each has its own JSON-RPC URL (messages are stored on the mesh and delivered when that Mac is up).`,
    version: o.version,
    protocolVersion: "1.0",
    supportedInterfaces: o.peers.map((p) => ({ url: `${o.base}/a2a/peers/${p}/v1`, protocolBinding: "JSONRPC" })),
    capabilities: { streaming: false, pushNotifications: false },
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: o.peers.map((p) => ({ id: p, name: p, description: `the agent ${p} (POST ${o.base}/a2a/peers/${p}/v1)`, tags: ["openclaw-mesh"] })),
  };
}
