import { Role, TaskState, type Artifact, type Message, type Part, type Task, type TaskArtifactUpdateEvent, type TaskStatusUpdateEvent } from "@a2a-js/sdk";

/**
 * The A2A 1.0 objects this server makes, in the SDK's own types (its JSON-RPC, REST and gRPC
 * bindings serialize them): text parts, the agent's status messages, task and event shells.
 */
export function textPart(text: string): Part {
  return { content: { $case: "text", value: text }, metadata: undefined, filename: "", mediaType: "text/plain" };
}

/** The text of a message's or artifact's parts (data parts as compact JSON, as OpenClaw does). */
export function textOf(parts: readonly Part[] | undefined): string {
  return (parts ?? [])
    .map((p) => (p.content?.$case === "text" ? p.content.value : p.content?.$case === "data" ? JSON.stringify(p.content.value) : ""))
    .join("");
}

/** A status message from the agent side ("stored on agent.nova.inbox", the reason of a failure). */
export function agentMessage(taskId: string, contextId: string, text: string): Message {
  return { messageId: `${taskId}-s${Date.now().toString(36)}`, contextId, taskId, role: Role.ROLE_AGENT, parts: [textPart(text)], metadata: undefined, extensions: [], referenceTaskIds: [] };
}

export function newTask(id: string, contextId: string, state: TaskState, history: Message[], note: string, metadata: Record<string, unknown>): Task {
  return { id, contextId, status: { state, message: agentMessage(id, contextId, note), timestamp: new Date().toISOString() }, artifacts: [], history, metadata };
}

export function statusEvent(taskId: string, contextId: string, state: TaskState, note: string): TaskStatusUpdateEvent {
  return { taskId, contextId, status: { state, message: agentMessage(taskId, contextId, note), timestamp: new Date().toISOString() }, metadata: undefined };
}

/** The answer as the task's one artifact (`<task>-answer`, whole, last chunk). */
export function answerEvent(taskId: string, contextId: string, text: string): TaskArtifactUpdateEvent {
  const artifact: Artifact = { artifactId: `${taskId}-answer`, name: "answer", description: "", parts: [textPart(text)], metadata: undefined, extensions: [] };
  return { taskId, contextId, artifact, append: false, lastChunk: true, metadata: undefined };
}

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED]);
