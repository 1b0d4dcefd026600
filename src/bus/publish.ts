import { jetstream, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import { errors, headers, type NatsConnection } from "@nats-io/nats-core";
import { ApiCodes, apiCode, firstLine, isNoResponders, isNotFound, isTimeout, permissionDenied } from "../base/nats-errors.js";
import { inboxStreamName } from "../../subjects/names.js";
// Specific modules, not subjects/mod.js: publishing must not load zod (CLI start-up time).
import { inboxSubject, isStoredSubject, ownerOf, senderOf } from "../../subjects/subjects.js";
import { isIdentity } from "../../subjects/identity.js";
import { encodeEnvelope, newEnvelope, type Envelope, type NewEnvelope } from "../../subjects/envelope-core.js";
import { MeshError } from "../base/errors.js";
import { signerOf } from "./connection.js";
import { sealForRecipient } from "./sealer.js";


export interface Published {
  subject: string;
  id?: string;
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  /** Its body was sealed for its recipient (and sender). */
  sealed?: boolean;
  /** Set when a message, ask or reply went in clear on a secure mesh, and why (the recipient has no sealing key). */
  clear?: string;
}

/** The recipient has no inbox stream (never provisioned). */
export class NoInboxError extends MeshError {
  override name = "NoInboxError";
}

/** The broker refused to store it: the stream, or this subject's share of it, is full (the server's words in the message). */
export class StreamFullError extends MeshError {
  override name = "StreamFullError";
}

/** The recipient's inbox (or this sender's share of it) is full; the server said which. */
export class InboxFullError extends StreamFullError {
  override name = "InboxFullError";
}

/** No stream answered in time (a stream missing while something subscribes to the subject looks like this too). */
export class PublishTimeoutError extends MeshError {
  override name = "PublishTimeoutError";
}

function jsError(err: unknown, subject: string): MeshError {
  const msg = firstLine(err);
  if (isNoResponders(err)) {
    const to = ownerOf(subject);
    const from = senderOf(subject);
    if (to && from && isIdentity(to) && isIdentity(from) && subject === inboxSubject(to, from)) {
      return new NoInboxError(`${to} has no inbox yet: its sidecar makes it on first start (on a secure mesh: \`mesh broker add-identity ${to}\`)`);
    }
    return new MeshError(`no stream stores ${subject}: run \`mesh broker provision\` first`);
  }
  // nats.js refuses a payload over the server's max_payload before sending it.
  if (err instanceof errors.InvalidArgumentError) return new MeshError(`message too large for the broker (${msg})`);
  if (apiCode(err) === ApiCodes.StreamStoreFailed) {
    const to = ownerOf(subject);
    const from = senderOf(subject);
    // Per-sender lanes: "maximum messages per subject exceeded" is this sender's share, not the inbox.
    if (subject.startsWith("agent.") && to && from) {
      return new InboxFullError(
        `${to}'s inbox did not take it: the broker refused (${msg}); each sender has its own share of an inbox, and ${from}'s fills up while ${to} is not reading — it takes more once ${to}'s sidecar delivers what waits`,
        1,
        { cause: err },
      );
    }
    return new StreamFullError(`the broker did not store it: the stream is full (${msg})`, 1, { cause: err });
  }
  if (permissionDenied(err)) return new MeshError(`not allowed to publish to ${subject} (${msg})`);
  if (isTimeout(err)) return new PublishTimeoutError(`publish to ${subject} failed: ${msg}`);
  return new MeshError(`publish to ${subject} failed: ${msg}`);
}

/** Publishes an envelope to JetStream with its id as Nats-Msg-Id (a retried publish is stored once). */
export async function publishEnvelope(nc: NatsConnection, subject: string, unsigned: Envelope): Promise<Published> {
  const js = jetstream(nc);
  // Sealed for its recipient and sender when the connection seals (a secure mesh's message, ask or
  // reply), then signed with the sender's nkey when the connection has one (secure mesh).
  const { env: sealed, clear } = await sealForRecipient(nc, unsigned);
  const signer = signerOf(nc);
  const env = signer && !sealed.sig ? signer.sign(sealed) : sealed;
  let ack: PubAck;
  try {
    ack = await js.publish(subject, encodeEnvelope(env), { msgID: env.id, timeout: 5000 });
  } catch (err) {
    throw jsError(err, subject);
  }
  return { subject, id: env.id, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate, ...(env.sealed ? { sealed: true } : {}), ...(clear ? { clear } : {}) };
}

/** Publishes bytes as they are: to JetStream when a mesh stream stores the subject, else core NATS. */
export async function publishRaw(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  hdrs?: Record<string, string>,
): Promise<Published> {
  const h = hdrs ? headers() : undefined;
  if (h && hdrs) for (const [k, v] of Object.entries(hdrs)) h.set(k, v);
  if (isStoredSubject(subject)) {
    const js = jetstream(nc);
    try {
      const ack = await js.publish(subject, data, { timeout: 5000, ...(h ? { headers: h } : {}) });
      return { subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw jsError(err, subject);
    }
  }
  nc.publish(subject, data, h ? { headers: h } : undefined);
  await nc.flush();
  return { subject };
}

/** Options of a publish into an inbox. */
export interface InboxPublishOptions {
  /**
   * An identity that never started has no inbox stream yet. With `createInbox`, on an open mesh it
   * is made here (as its sidecar would make it), so the message waits for it; on a secure mesh only
   * the admin may make one (`add-identity`), and the sender gets the original error. Off by default:
   * a publish creates nothing unless its caller says so (`mesh send`, `mesh ask` do).
   */
  createInbox?: boolean;
}

/** Publishes into a recipient's durable inbox (its sender's lane, agent.<to>.inbox.<from>). */
export async function publishToInbox(nc: NatsConnection, env: Envelope, opts: InboxPublishOptions = {}): Promise<Published> {
  try {
    return await publishEnvelope(nc, inboxSubject(env.to, env.from), env);
  } catch (err) {
    if (!opts.createInbox) throw err;
    // No stream for the subject answers "no responders" at once, or, when some live subscriber
    // (a `mesh web`, a `mesh sub`) receives the request, a timeout: then ask whether the inbox exists.
    if (!(err instanceof NoInboxError) && !(err instanceof PublishTimeoutError && (await inboxMissing(nc, env.to)))) throw err;
    try {
      const { provisionIdentity } = await import("../../broker/provision.js");
      await provisionIdentity(await jetstreamManager(nc), env.to);
    } catch {
      throw err;
    }
    return publishEnvelope(nc, inboxSubject(env.to, env.from), env);
  }
}

async function inboxMissing(nc: NatsConnection, to: string): Promise<boolean> {
  try {
    await (await jetstreamManager(nc)).streams.info(inboxStreamName(to));
    return false;
  } catch (err) {
    return isNotFound(err);
  }
}

/** `mesh send`: a text message into another identity's durable inbox. */
export async function sendMessage(
  nc: NatsConnection,
  m: Omit<NewEnvelope, "kind"> & { kind?: NewEnvelope["kind"] },
  opts: InboxPublishOptions = {},
): Promise<Published & { envelope: Envelope }> {
  const env = newEnvelope({ ...m, kind: m.kind ?? "message" });
  const published = await publishToInbox(nc, env, opts);
  return { ...published, envelope: env };
}
