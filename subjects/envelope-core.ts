import { isIdentity, IDENTITY_MAX } from "./identity.js";
import type { SealedBody } from "./sealed.js";

/**
 * The envelope's shape and builder, without zod: what a publisher needs (so `mesh send` starts
 * fast). Parsing what arrives is in envelope.ts, with the zod schema.
 */
export const ENVELOPE_VERSION = 1 as const;

/** Largest body text we accept (the broker's max_payload is 1 MiB; leave room for the envelope). */
export const MAX_TEXT_BYTES = 512 * 1024;

export const envelopeKinds = ["message", "ask", "reply", "event", "job", "dead-letter"] as const;
export type EnvelopeKind = (typeof envelopeKinds)[number];

export interface Envelope {
  v: typeof ENVELOPE_VERSION;
  /** Unique id; also the JetStream Nats-Msg-Id so a retried publish is stored once. */
  id: string;
  from: string;
  /** Target identity, or "*" for broadcast-style messages (events, jobs). */
  to: string;
  /** ISO-8601 time the sender created it. */
  time: string;
  kind: EnvelopeKind;
  /** Event kind path for kind=event (e.g. "sidecar.started"), job queue for kind=job. */
  type?: string | undefined;
  /** Text for messages and asks; any JSON for events. */
  body?: unknown;
  /** For kind=ask: where the answer goes (reply.<from>.<correlation>). */
  replyTo?: string | undefined;
  /** For kind=reply: the id of the ask this answers. */
  correlationId?: string | undefined;
  /** For messages between agents: the conversation it belongs to (an A2A contextId). */
  context?: string | undefined;
  /**
   * How many automatic forwards led to this message: 0 when a person or an agent sent it, +1 each
   * time a sidecar forwards an agent's reply. Sidecars stop forwarding at their hop limit.
   */
  hops?: number | undefined;
  /**
   * The body, sealed for its sender and recipient (messages, asks and replies on a secure mesh whose
   * recipient published a curve key): `body` is then absent. subjects/sealed.ts.
   */
  sealed?: SealedBody | undefined;
  /** Signature over the canonical envelope (added by the security layer). */
  sig?: string | undefined;
}

export class EnvelopeError extends Error {
  override name = "EnvelopeError";
}

export const ID_RE = /^[A-Za-z0-9_-]{8,64}$/;

export function newId(): string {
  return crypto.randomUUID();
}

export interface NewEnvelope {
  from: string;
  to: string;
  kind: EnvelopeKind;
  body: unknown;
  type?: string;
  replyTo?: string;
  correlationId?: string;
  context?: string;
  hops?: number;
  id?: string;
}

/** A2A contextId rules: letters, digits, . _ : - and at most 128 characters. */
export const CONTEXT_RE = /^[A-Za-z0-9._:-]{1,128}$/;
export const MAX_HOPS = 100;

/** Builds an envelope; invalid input throws EnvelopeError (one line naming the field) before anything is sent. */
export function newEnvelope(input: NewEnvelope): Envelope {
  const bad = (field: string, why: string): never => {
    throw new EnvelopeError(`${field}: ${why}`);
  };
  const id = input.id ?? newId();
  if (!ID_RE.test(id)) bad("id", "must be 8-64 letters, digits, _ or -");
  if (!isIdentity(input.from)) bad("from", `must be an identity (lowercase letters, digits, dashes, at most ${IDENTITY_MAX})`);
  if (input.to !== "*" && !isIdentity(input.to)) bad("to", `must be an identity (lowercase letters, digits, dashes, at most ${IDENTITY_MAX})`);
  if (!envelopeKinds.includes(input.kind)) bad("kind", `must be one of ${envelopeKinds.join(", ")}`);
  if (input.type !== undefined && input.type.length > 128) bad("type", "longer than 128 characters");
  if (input.replyTo !== undefined && input.replyTo.length > 256) bad("replyTo", "longer than 256 characters");
  if (input.correlationId !== undefined && input.correlationId.length > 64) bad("correlationId", "longer than 64 characters");
  if (input.context !== undefined && !CONTEXT_RE.test(input.context)) bad("context", "must be 1-128 letters, digits, . _ : or -");
  if (input.hops !== undefined && (!Number.isInteger(input.hops) || input.hops < 0 || input.hops > MAX_HOPS)) bad("hops", `must be a whole number 0-${MAX_HOPS}`);
  if (typeof input.body === "string" && Buffer.byteLength(input.body) > MAX_TEXT_BYTES) {
    bad("body", `is ${Buffer.byteLength(input.body)} bytes; the limit is ${MAX_TEXT_BYTES}`);
  }
  return {
    v: ENVELOPE_VERSION,
    id,
    from: input.from,
    to: input.to,
    time: new Date().toISOString(),
    kind: input.kind,
    ...(input.type !== undefined ? { type: input.type } : {}),
    body: input.body,
    ...(input.replyTo !== undefined ? { replyTo: input.replyTo } : {}),
    ...(input.correlationId !== undefined ? { correlationId: input.correlationId } : {}),
    ...(input.context !== undefined ? { context: input.context } : {}),
    ...(input.hops !== undefined ? { hops: input.hops } : {}),
  };
}

export function encodeEnvelope(env: Envelope): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(env));
}

/** The body as text for kinds that carry text (message, ask, reply). */
export function bodyText(env: Envelope): string {
  if (env.sealed && env.body === undefined) return `[sealed for ${Object.keys(env.sealed.k).sort().join(", ")}]`;
  return typeof env.body === "string" ? env.body : JSON.stringify(env.body);
}
