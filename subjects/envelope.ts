import { z } from "zod";
import { isIdentity, IDENTITY_MAX } from "./identity.js";
import { CONTEXT_RE, ENVELOPE_VERSION, EnvelopeError, MAX_HOPS, envelopeKinds, type Envelope } from "./envelope-core.js";
import { MAX_SEALED_READERS, SEALED_VERSION } from "./sealed.js";

export {
  ENVELOPE_VERSION,
  MAX_TEXT_BYTES,
  envelopeKinds,
  EnvelopeError,
  newEnvelope,
  newId,
  encodeEnvelope,
  bodyText,
} from "./envelope-core.js";
export type { Envelope, EnvelopeKind, NewEnvelope } from "./envelope-core.js";

/**
 * The message envelope, version 1, as received: everything on `agent.*.inbox`, `reply.*.*`,
 * `events.>`, `jobs.>` and `dlq.>` is one of these, JSON-encoded, and parsed here with zod.
 */
const identityField = z
  .string()
  .refine(isIdentity, { message: `must be an identity (lowercase letters, digits, dashes, at most ${IDENTITY_MAX})` });

const b64url = (max: number) => z.string().max(max).regex(/^[A-Za-z0-9_-]*$/);
const curveKey = z.string().regex(/^X[A-Z2-7]{55}$/, { message: "must be a curve public key (X…)" });
/** A sealed body (sealed.ts) with at most `maxReaders` readers. */
export function sealedBodySchemaFor(maxReaders: number) {
  return z
    .object({
      v: z.literal(SEALED_VERSION),
      x: curveKey,
      iv: b64url(32),
      ct: b64url(1024 * 1024),
      k: z
        .record(identityField, z.object({ to: curveKey, key: b64url(256) }).strict())
        .refine((k) => Object.keys(k).length >= 1 && Object.keys(k).length <= maxReaders, { message: `1-${maxReaders} readers` }),
    })
    .strict();
}

/** A sealed body in an envelope (instead of `body`: its recipient and sender), or in a record an identity keeps for itself. */
export const sealedBodySchema = sealedBodySchemaFor(MAX_SEALED_READERS);

export const envelopeSchema = z
  .object({
    v: z.literal(ENVELOPE_VERSION),
    id: z.string().min(8).max(64).regex(/^[A-Za-z0-9_-]+$/),
    from: identityField,
    to: z.union([identityField, z.literal("*")]),
    time: z.iso.datetime({ offset: true }),
    kind: z.enum(envelopeKinds),
    type: z.string().max(128).optional(),
    // Required, except in a sealed envelope, which has none (refined below).
    body: z.unknown().optional(),
    replyTo: z.string().max(256).optional(),
    correlationId: z.string().max(64).optional(),
    context: z.string().regex(CONTEXT_RE).optional(),
    hops: z.number().int().min(0).max(MAX_HOPS).optional(),
    sealed: sealedBodySchema.optional(),
    sig: z.string().max(256).optional(),
  })
  .strict()
  .refine((e) => !e.sealed || e.body === undefined, { message: "a sealed envelope carries no clear body", path: ["body"] })
  .refine((e) => e.sealed !== undefined || e.body !== undefined, { message: "required (an envelope that is not sealed carries a body)", path: ["body"] });

// What the schema accepts must be an Envelope as envelope-core.ts writes it down.
type Parsed = z.infer<typeof envelopeSchema>;
const _parsedIsEnvelope: Parsed extends Envelope ? true : false = true;
void _parsedIsEnvelope;

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
