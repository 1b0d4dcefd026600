import { z } from "zod";
import { isIdentity, IDENTITY_MAX } from "./identity.js";

/**
 * The message envelope, version 1. Everything the mesh publishes on `agent.*.inbox`, `reply.*.*`,
 * `events.>`, `jobs.>` and `dlq.>` is one of these, JSON-encoded.
 */
export const ENVELOPE_VERSION = 1 as const;

/** Largest body text we accept (the broker's max_payload is 1 MiB; leave room for the envelope). */
export const MAX_TEXT_BYTES = 512 * 1024;

const identityField = z
  .string()
  .refine(isIdentity, { message: `must be an identity (lowercase letters, digits, dashes, at most ${IDENTITY_MAX})` });

export const envelopeKinds = ["message", "ask", "reply", "event", "job", "dead-letter"] as const;
export type EnvelopeKind = (typeof envelopeKinds)[number];

export const envelopeSchema = z
  .object({
    v: z.literal(ENVELOPE_VERSION),
    /** Unique id; also the JetStream Nats-Msg-Id so a retried publish is stored once. */
    id: z.string().min(8).max(64).regex(/^[A-Za-z0-9_-]+$/),
    from: identityField,
    /** Target identity, or "*" for broadcast-style messages (events, jobs). */
    to: z.union([identityField, z.literal("*")]),
    /** ISO-8601 time the sender created it. */
    time: z.iso.datetime({ offset: true }),
    kind: z.enum(envelopeKinds),
    /** Event kind path for kind=event (e.g. "sidecar.started"), job queue for kind=job. */
    type: z.string().max(128).optional(),
    /** Text for messages and asks; any JSON for events. */
    body: z.unknown(),
    /** For kind=ask: where the answer goes (reply.<from>.<correlation>). */
    replyTo: z.string().max(256).optional(),
    /** For kind=reply: the id of the ask this answers. */
    correlationId: z.string().max(64).optional(),
    /** Signature over the canonical envelope (added by the security layer). */
    sig: z.string().max(256).optional(),
  })
  .strict();

export type Envelope = z.infer<typeof envelopeSchema>;

export class EnvelopeError extends Error {
  override name = "EnvelopeError";
}

/** One-line description of a zod error, naming the first failing field. */
export function zodLine(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return "invalid";
  const path = issue.path.length ? issue.path.join(".") : "(root)";
  return `${path}: ${issue.message}`;
}

/** Parses raw bytes/text into an Envelope or throws EnvelopeError with a one-line reason. */
export function parseEnvelope(raw: Uint8Array | string): Envelope {
  const text = typeof raw === "string" ? raw : new TextDecoder("utf-8", { fatal: false }).decode(raw);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new EnvelopeError("not JSON");
  }
  if (typeof data === "object" && data !== null && "v" in data && (data as { v: unknown }).v !== ENVELOPE_VERSION) {
    throw new EnvelopeError(`unsupported envelope version ${JSON.stringify((data as { v: unknown }).v)} (this build speaks v${ENVELOPE_VERSION})`);
  }
  const parsed = envelopeSchema.safeParse(data);
  if (!parsed.success) throw new EnvelopeError(`wrong shape: ${zodLine(parsed.error)}`);
  return parsed.data;
}

export function encodeEnvelope(env: Envelope): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(env));
}

/** The body as text for kinds that carry text (message, ask, reply). */
export function bodyText(env: Envelope): string {
  return typeof env.body === "string" ? env.body : JSON.stringify(env.body);
}

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
  id?: string;
}

/** Builds and validates an envelope; invalid input throws EnvelopeError before anything is sent. */
export function newEnvelope(input: NewEnvelope): Envelope {
  const candidate = {
    v: ENVELOPE_VERSION,
    id: input.id ?? newId(),
    from: input.from,
    to: input.to,
    time: new Date().toISOString(),
    kind: input.kind,
    ...(input.type !== undefined ? { type: input.type } : {}),
    body: input.body,
    ...(input.replyTo !== undefined ? { replyTo: input.replyTo } : {}),
    ...(input.correlationId !== undefined ? { correlationId: input.correlationId } : {}),
  };
  const parsed = envelopeSchema.safeParse(candidate);
  if (!parsed.success) throw new EnvelopeError(zodLine(parsed.error));
  if (typeof parsed.data.body === "string" && Buffer.byteLength(parsed.data.body) > MAX_TEXT_BYTES) {
    throw new EnvelopeError(`body is ${Buffer.byteLength(parsed.data.body)} bytes; the limit is ${MAX_TEXT_BYTES}`);
  }
  return parsed.data;
}
