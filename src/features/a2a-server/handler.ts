import type { A2ARequestHandler, ServerCallContext } from "@a2a-js/sdk/server";
import { RequestMalformedError } from "@a2a-js/sdk/errors";
import type { SendMessageRequest, StreamResponse, Task } from "@a2a-js/sdk";
import { textOf, TERMINAL_STATES } from "./objects.js";

/** Largest message text (OpenClaw caps extracted text at 64 KiB). */
export const MAX_A2A_TEXT_BYTES = 64 * 1024;

/** Where a repeated messageId finds the task its first send made. */
export interface MessageIds {
  /** The task made for this key, if any (after a restart too, when durable). */
  find(key: string): Promise<string | undefined>;
  remember(key: string, taskId: string): Promise<void>;
}

/** In memory (bounded): what a sidecar without a durable store remembers. */
export class MemoryMessageIds implements MessageIds {
  private readonly m = new Map<string, string>();
  constructor(private readonly max = 10_000) {}
  async find(key: string): Promise<string | undefined> {
    return this.m.get(key);
  }
  async remember(key: string, taskId: string): Promise<void> {
    this.m.set(key, taskId);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as string);
  }
}

/** The key of a client's message: who sent it (its token's name) and its messageId. */
export function messageKey(context: ServerCallContext, messageId: string): string {
  return `${context.user?.userName ?? ""}\u0000${messageId}`;
}

/**
 * The SDK's DefaultRequestHandler with the mesh's rules in front of SendMessage and
 * SendStreamingMessage: a message needs text (at most 64 KiB), and a messageId the same client
 * sent before returns the task that first send made — never a second message on the mesh. While
 * the first send is still being stored, a repeat waits for it.
 */
export class MeshRequestHandler implements A2ARequestHandler {
  private readonly claims = new Map<string, Promise<string | undefined>>();
  private readonly started = new Map<string, (taskId: string) => void>();

  constructor(
    private readonly inner: A2ARequestHandler,
    private readonly ids: MessageIds,
  ) {}

  /** The executor calls this when it starts the task for a message (before storing it on the mesh). */
  async taskStarted(key: string, taskId: string): Promise<void> {
    await this.ids.remember(key, taskId);
    this.started.get(key)?.(taskId);
  }

  private check(params: SendMessageRequest): string {
    const m = params.message;
    if (!m) throw new RequestMalformedError("invalid params: expected { message: { messageId, parts: [{ text }] } }");
    if (!m.messageId) throw new RequestMalformedError("invalid params: the message has no messageId");
    if (m.parts.length > 64) throw new RequestMalformedError("invalid params: more than 64 parts");
    const text = textOf(m.parts);
    if (!text.trim()) throw new RequestMalformedError("invalid params: the message has no text");
    if (Buffer.byteLength(text) > MAX_A2A_TEXT_BYTES) throw new RequestMalformedError(`invalid params: text larger than ${MAX_A2A_TEXT_BYTES} bytes`);
    return m.messageId;
  }

  /** The task an earlier send of this messageId made, or undefined (and this send is now the first). */
  private async earlier(key: string): Promise<string | undefined> {
    const pending = this.claims.get(key);
    if (pending) return pending;
    const known = await this.ids.find(key);
    if (known) return known;
    if (this.claims.has(key)) return this.claims.get(key);
    this.claims.set(
      key,
      new Promise<string | undefined>((resolve) => {
        this.started.set(key, resolve);
        setTimeout(() => resolve(undefined), 60_000).unref();
      }),
    );
    return undefined;
  }

  private release(key: string): void {
    this.started.get(key)?.("");
    this.started.delete(key);
    this.claims.delete(key);
  }

  async sendMessage(params: SendMessageRequest, context: ServerCallContext): Promise<Task | import("@a2a-js/sdk").Message> {
    const key = messageKey(context, this.check(params));
    const prior = await this.earlier(key);
    if (prior) return this.inner.getTask({ tenant: params.tenant, id: prior }, context);
    try {
      return await this.inner.sendMessage(params, context);
    } finally {
      this.release(key);
    }
  }

  async *sendMessageStream(params: SendMessageRequest, context: ServerCallContext): AsyncGenerator<StreamResponse, void, undefined> {
    const key = messageKey(context, this.check(params));
    const prior = await this.earlier(key);
    if (prior) {
      const task = await this.inner.getTask({ tenant: params.tenant, id: prior }, context);
      if (task.status && TERMINAL_STATES.has(task.status.state)) {
        yield { payload: { $case: "task", value: task } };
        return;
      }
      yield* this.inner.resubscribe({ tenant: params.tenant, id: prior }, context);
      return;
    }
    try {
      yield* this.inner.sendMessageStream(params, context);
    } finally {
      this.release(key);
    }
  }

  getAgentCard: A2ARequestHandler["getAgentCard"] = () => this.inner.getAgentCard();
  getAuthenticatedExtendedAgentCard: A2ARequestHandler["getAuthenticatedExtendedAgentCard"] = (p, c) => this.inner.getAuthenticatedExtendedAgentCard(p, c);
  getTask: A2ARequestHandler["getTask"] = (p, c) => this.inner.getTask(p, c);
  cancelTask: A2ARequestHandler["cancelTask"] = (p, c) => this.inner.cancelTask(p, c);
  listTasks: A2ARequestHandler["listTasks"] = (p, c) => this.inner.listTasks(p, c);
  resubscribe: A2ARequestHandler["resubscribe"] = (p, c) => this.inner.resubscribe(p, c);
  createTaskPushNotificationConfig: A2ARequestHandler["createTaskPushNotificationConfig"] = (p, c) => this.inner.createTaskPushNotificationConfig(p, c);
  getTaskPushNotificationConfig: A2ARequestHandler["getTaskPushNotificationConfig"] = (p, c) => this.inner.getTaskPushNotificationConfig(p, c);
  listTaskPushNotificationConfigs: A2ARequestHandler["listTaskPushNotificationConfigs"] = (p, c) => this.inner.listTaskPushNotificationConfigs(p, c);
  deleteTaskPushNotificationConfig: A2ARequestHandler["deleteTaskPushNotificationConfig"] = (p, c) => this.inner.deleteTaskPushNotificationConfig(p, c);
}
