import { createHash } from "node:crypto";
import { Task, type ListTasksRequest, type ListTasksResponse } from "@a2a-js/sdk";
import type { ServerCallContext, TaskStore } from "@a2a-js/sdk/server";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { z } from "zod";
import { A2A_ANSWER_MAX, A2A_SEALED_ANSWER_MAX, A2A_TASK_TTL_MS } from "../../../broker/definitions.js";
import { a2aBucketName, sealedBodySchema } from "../../../subjects/mod.js";
import { openWith, sealForSelf, sealerOf } from "../../bus/sealer.js";
import { safeJson } from "../../base/json.js";
import { ApiCodes, apiCode } from "../../base/nats-errors.js";
import { MeshError } from "../../base/errors.js";
import type { MessageIds } from "./handler.js";
import { TERMINAL_STATES } from "./objects.js";

/** The identity's A2A task bucket is full: new tasks are refused until old ones expire. */
export class A2ATasksFullError extends MeshError {
  override name = "A2ATasksFullError";
}

/** A task as the store keeps it: the peer it went to and its owner in clear (the lookups), the task sealed when it can be. */
const storedSchema = z.discriminatedUnion("v", [
  z.object({ v: z.literal(1), peer: z.string(), owner: z.string(), task: z.record(z.string(), z.unknown()) }),
  z.object({ v: z.literal(2), peer: z.string(), owner: z.string(), sealed: sealedBodySchema }),
]);
const taskJsonSchema = z.record(z.string(), z.unknown());
interface TaskRecord {
  peer: string;
  owner: string;
  task: Record<string, unknown>;
}

const DEFAULT_PAGE = 50;

/**
 * A2A tasks on the bus: the KV bucket mesh-a2a-<self> (broker/definitions.ts), which only this
 * identity may write or read. `task.<id>` holds a task (the SDK's JSON form) with the peer it
 * went to and the caller who owns it; `msg.<hash>` maps a caller's messageId for a peer to its
 * task. A task is visible only on its peer's URL and only to its owner (another client's token
 * gets "Task not found").
 *
 * On a secure mesh with sealed bodies the task itself (its messages, answer and status) is sealed
 * for this identity alone and bound to its key (v 2): the broker's host and the admin credential
 * read only the peer, the owner and the task id. A clear record (v 1: an open mesh, or written
 * before this release) is still read.
 */
export class A2ATaskBucket {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KV,
    readonly name: string,
  ) {}

  /** Opens the bucket the admin provisioned (undefined when it does not exist: tasks then stay in memory). */
  static async open(nc: NatsConnection, self: string): Promise<A2ATaskBucket | undefined> {
    const name = a2aBucketName(self);
    try {
      const kv = await new Kvm(nc).open(name);
      await kv.status();
      return new A2ATaskBucket(nc, kv, name);
    } catch (err) {
      if (apiCode(err) === ApiCodes.StreamNotFound) return undefined;
      throw err;
    }
  }

  /** Whether what is written now is sealed (this connection holds its identity's keyring). */
  seals(): boolean {
    return sealerOf(this.nc)?.selfReads === true;
  }

  forPeer(peer: string): TaskStore & MessageIds {
    return new PeerTasks(this, peer);
  }

  /** The task stored under `id`: undefined when there is none, or it is unreadable here (a sealed one this keyring cannot open). */
  async read(id: string): Promise<TaskRecord | undefined> {
    const key = `task.${id}`;
    const e = await this.kv.get(key);
    if (!e || e.operation !== "PUT") return undefined;
    const r = storedSchema.safeParse(safeJson(e.string()));
    if (!r.success) return undefined;
    if (r.data.v === 1) return r.data;
    const opened = openWith(this.nc, key, r.data.sealed);
    const task = opened.ok ? taskJsonSchema.safeParse(opened.body) : undefined;
    return task?.success ? { peer: r.data.peer, owner: r.data.owner, task: task.data } : undefined;
  }

  async write(r: TaskRecord): Promise<void> {
    const key = `task.${String(r.task.id)}`;
    const sealed = sealForSelf(this.nc, key, r.task);
    const stored = sealed ? { v: 2, peer: r.peer, owner: r.owner, sealed } : { v: 1, ...r };
    try {
      await this.kv.put(key, JSON.stringify(stored));
    } catch (err) {
      throw this.full(err);
    }
  }

  async all(): Promise<TaskRecord[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys("task.>")) keys.push(k);
    const out: TaskRecord[] = [];
    for (const k of keys) {
      const r = await this.read(k.slice("task.".length));
      if (r) out.push(r);
    }
    return out;
  }

  async taskOf(msgKey: string): Promise<string | undefined> {
    const e = await this.kv.get(`msg.${msgKey}`);
    return e && e.operation === "PUT" ? e.string() : undefined;
  }

  async mapMessage(msgKey: string, taskId: string): Promise<void> {
    try {
      await this.kv.put(`msg.${msgKey}`, taskId);
    } catch (err) {
      throw this.full(err);
    }
  }

  private full(err: unknown): unknown {
    if (apiCode(err) !== ApiCodes.StreamStoreFailed) return err;
    return new A2ATasksFullError(`the A2A task bucket ${this.name} is full; tasks expire ${Math.round(A2A_TASK_TTL_MS / 86_400_000)} days after their last change, or the admin can raise the limit`, 1, { cause: err });
  }
}

function ownerOf(context: ServerCallContext): string {
  return context.user?.userName ?? "";
}

/** A stored answer longer than `max` bytes is cut, with a note, so that the task fits. */
function bounded(task: Task, max: number): Task {
  for (const p of task.artifacts.flatMap((a) => a.parts)) {
    if (p.content?.$case === "text" && Buffer.byteLength(p.content.value) > max) {
      p.content = { $case: "text", value: `${Buffer.from(p.content.value).subarray(0, max).toString("utf8")}\n[answer cut to ${max} bytes in the stored task]` };
    }
  }
  return task;
}

class PeerTasks implements TaskStore, MessageIds {
  constructor(
    private readonly bucket: A2ATaskBucket,
    private readonly peer: string,
  ) {}

  async save(task: Task, context: ServerCallContext): Promise<void> {
    const json = Task.toJSON(bounded(structuredClone(task), this.bucket.seals() ? A2A_SEALED_ANSWER_MAX : A2A_ANSWER_MAX)) as Record<string, unknown>;
    await this.bucket.write({ peer: this.peer, owner: ownerOf(context), task: json });
  }

  async load(taskId: string, context: ServerCallContext): Promise<Task | undefined> {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(taskId)) return undefined;
    const r = await this.bucket.read(taskId);
    if (!r || r.peer !== this.peer || r.owner !== ownerOf(context)) return undefined;
    return Task.fromJSON(r.task);
  }

  async list(params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> {
    const owner = ownerOf(context);
    let tasks = (await this.bucket.all()).filter((r) => r.peer === this.peer && r.owner === owner).map((r) => Task.fromJSON(r.task));
    if (params.contextId) tasks = tasks.filter((t) => t.contextId === params.contextId);
    if (params.status) tasks = tasks.filter((t) => t.status?.state === params.status);
    if (params.statusTimestampAfter) {
      const after = new Date(params.statusTimestampAfter).getTime();
      tasks = tasks.filter((t) => t.status?.timestamp && new Date(t.status.timestamp).getTime() > after);
    }
    const stamp = (t: Task) => t.status?.timestamp ?? "";
    tasks.sort((a, b) => (stamp(b) !== stamp(a) ? stamp(b).localeCompare(stamp(a)) : b.id.localeCompare(a.id)));
    const totalSize = tasks.length;
    if (params.pageToken) {
      const cursor = decodeToken(params.pageToken);
      const i = cursor ? tasks.findIndex((t) => stamp(t) === cursor.ts && t.id === cursor.id) : -1;
      tasks = i === -1 ? [] : tasks.slice(i + 1);
    }
    const pageSize = params.pageSize ?? DEFAULT_PAGE;
    const page = tasks.slice(0, pageSize);
    const last = page.at(-1);
    return {
      tasks: page.map((t) => (params.includeArtifacts ? t : { ...t, artifacts: [] })),
      nextPageToken: last && tasks.length > page.length ? encodeToken(stamp(last), last.id) : "",
      pageSize,
      totalSize,
    };
  }

  async find(key: string): Promise<string | undefined> {
    return this.bucket.taskOf(this.hash(key));
  }

  async remember(key: string, taskId: string): Promise<void> {
    await this.bucket.mapMessage(this.hash(key), taskId);
  }

  private hash(key: string): string {
    return createHash("sha256").update(`${this.peer}\u0000${key}`).digest("hex").slice(0, 40);
  }
}

function encodeToken(ts: string, id: string): string {
  return Buffer.from(JSON.stringify({ ts, id })).toString("base64url");
}

function decodeToken(token: string): { ts: string; id: string } | undefined {
  const r = z.object({ ts: z.string(), id: z.string() }).safeParse(safeJson(Buffer.from(token, "base64url").toString("utf8")));
  return r.success ? r.data : undefined;
}

/** Tasks not yet ended, with their peer and owner: what a restarted sidecar follows again. */
export async function unfinished(bucket: A2ATaskBucket): Promise<Array<{ peer: string; owner: string; task: Task }>> {
  return (await bucket.all())
    .map((r) => ({ peer: r.peer, owner: r.owner, task: Task.fromJSON(r.task) }))
    .filter((r) => r.task.status !== undefined && !TERMINAL_STATES.has(r.task.status.state));
}
