import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { errors } from "@nats-io/nats-core";

/**
 * NATS failures by type and code, never by message text (nats.js v3 typed errors). Here rather
 * than in bus/ because broker/ provisioning branches on them too, and broker sits below bus.
 */

/** JetStream API error codes this project branches on (nats-server's own numbering). */
export const ApiCodes = {
  ...JetStreamApiCodes,
  /** "consumer name already in use" (a durable created concurrently with another config). */
  ConsumerNameExists: 10013,
  /** "consumer already exists" (2.10+ create with a different config). */
  ConsumerAlreadyExists: 10148,
  /** "maximum messages/bytes exceeded" on a stream with discard new. */
  StreamStoreFailed: 10077,
} as const;

function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) out.push(e);
  return out;
}

/** The JetStream API error code carried by err (or its cause), if any. */
export function apiCode(err: unknown): number | undefined {
  for (const e of chain(err)) if (e instanceof JetStreamApiError) return e.code;
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  const code = apiCode(err);
  return code === ApiCodes.StreamNotFound || code === ApiCodes.ConsumerNotFound || code === ApiCodes.NoMessageFound;
}

export function isAlreadyExists(err: unknown): boolean {
  const code = apiCode(err);
  return code === ApiCodes.ConsumerNameExists || code === ApiCodes.ConsumerAlreadyExists;
}

/** A compare-and-set (KV update / expected last sequence) lost to another writer. */
export function isWrongLastSequence(err: unknown): boolean {
  const code = apiCode(err);
  return code === ApiCodes.StreamWrongLastSequence || code === ApiCodes.StreamWrongLastSequenceUnknown;
}

/** Nobody answers the subject: for a JetStream publish, no stream stores it. */
export function isNoResponders(err: unknown): boolean {
  return chain(err).some(
    (e) => e instanceof errors.NoRespondersError || (e instanceof errors.RequestError && e.isNoResponders()),
  );
}

/** The server refused a publish or subscription by permissions. */
export function permissionDenied(err: unknown): InstanceType<typeof errors.PermissionViolationError> | undefined {
  for (const e of chain(err)) if (e instanceof errors.PermissionViolationError) return e;
  return undefined;
}

export function isAuthorizationError(err: unknown): boolean {
  return chain(err).some((e) => e instanceof errors.AuthorizationError || e instanceof errors.UserAuthenticationExpiredError);
}

export function isTimeout(err: unknown): boolean {
  return chain(err).some((e) => e instanceof errors.TimeoutError);
}

/**
 * A listing this identity may not make, or of something not there yet: nats-server answers a
 * denied JetStream API request with nothing (the request times out) and reports the violation
 * on the connection; a missing stream is a not-found.
 */
export function isAbsentOrDenied(err: unknown): boolean {
  return isNotFound(err) || Boolean(permissionDenied(err)) || isTimeout(err);
}

/** The server's own words for an error, first line only (for one-line messages). */
export function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split("\n")[0] ?? "";
}
