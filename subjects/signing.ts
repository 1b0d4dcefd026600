import { ed25519FromSeed, ed25519Verify } from "./ed25519.js";
import type { Envelope } from "./envelope-core.js";

/**
 * Sender authenticity: an envelope is signed with its sender's nkey (ed25519, the same key that
 * authenticates it to the broker) over a canonical form — every field except `sig`, keys sorted,
 * JSON — and verified against the sender's public key in the mesh-identities registry.
 */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

export function signingBytes(env: Envelope): Uint8Array {
  const { sig: _sig, ...rest } = env;
  return new TextEncoder().encode(JSON.stringify(canonical(rest)));
}

export interface Signer {
  publicKey: string;
  sign(env: Envelope): Envelope;
  /** Signs any JSON record the same way (every field but `sig`, keys sorted): job records, alert transitions. */
  signRecord<T extends { sig?: string | undefined }>(record: T): T;
  /** Raw Ed25519 signature of any bytes (an A2A Agent Card's JWS). */
  signBytes(bytes: Uint8Array): Uint8Array;
}

function canonicalBytes(value: { sig?: unknown }): Uint8Array {
  const { sig: _sig, ...rest } = value;
  return new TextEncoder().encode(JSON.stringify(canonical(rest)));
}

/** Checks a signed record (job record, alert transition) against its writer's public key. */
export function verifyRecord(record: { sig?: string | undefined }, writer: string, publicKey: string | undefined): Verdict {
  if (!publicKey) return { ok: false, reason: `written by ${writer}, who is not a registered identity` };
  if (!record.sig) return { ok: false, reason: `unsigned record claiming to be written by ${writer}` };
  try {
    const ok = ed25519Verify(publicKey, canonicalBytes(record), Buffer.from(record.sig, "base64url"));
    return ok ? { ok: true } : { ok: false, reason: `signature does not match ${writer}'s key (forged record?)` };
  } catch {
    return { ok: false, reason: `malformed signature on a record written by ${writer}` };
  }
}

export function signerFromSeed(seed: string | Uint8Array): Signer {
  const kp = ed25519FromSeed(typeof seed === "string" ? new TextEncoder().encode(seed.trim()) : seed);
  return {
    publicKey: kp.publicKey,
    sign: (env) => ({ ...env, sig: Buffer.from(kp.sign(signingBytes(env))).toString("base64url") }),
    signRecord: (record) => ({ ...record, sig: Buffer.from(kp.sign(canonicalBytes({ ...record, sig: undefined }))).toString("base64url") }),
    signBytes: (bytes) => kp.sign(bytes),
  };
}

/** `retry`: the check could not be made now (registry unreadable); the message should wait, not be dead-lettered. */
export type Verdict = { ok: true } | { ok: false; reason: string; retry?: boolean };

/** How far the signed time may be from when the broker stored (or we received) a message. */
export const MAX_SKEW_MS = 5 * 60_000;

/**
 * What a signed message is bound to: its recipient (`to`, signed) and the subject it arrived on
 * (the identity token in it must be the recipient's, or for events and job results the sender's).
 */
export interface Binding {
  /** The identity this message must be addressed to (`to`). */
  to?: string;
  /** The subject it arrived on. */
  subject?: string;
  /** Which identity the subject's second token must name: the recipient (inbox, reply, dlq) or the sender (events). */
  subjectNames?: "to" | "from";
}

export function checkBinding(env: Envelope, b: Binding): Verdict {
  if (b.to !== undefined && env.to !== b.to) return { ok: false, reason: `addressed to ${env.to}, not ${b.to}` };
  if (b.subject !== undefined && b.subjectNames) {
    const parts = b.subject.split(".");
    const named = parts[1];
    const want = b.subjectNames === "to" ? env.to : env.from;
    // An inbox lane (agent.<to>.inbox.<from>) names the sender too, and the server checked it.
    const lane = parts.length === 4 && parts[2] === "inbox" ? parts[3] : undefined;
    if (lane !== undefined && lane !== env.from) {
      return { ok: false, reason: `published on ${b.subject} (${lane}'s lane) but claims to be from ${env.from}` };
    }
    if (named !== want) {
      return {
        ok: false,
        reason:
          b.subjectNames === "from"
            ? `published on ${b.subject} but claims to be from ${env.from}`
            : `arrived on ${b.subject} but is addressed to ${env.to} (replayed to another recipient?)`,
      };
    }
  }
  return { ok: true };
}

/** A signed message is fresh when its signed time is within MAX_SKEW_MS of when it was stored: a replay is not. */
export function checkFreshness(env: Envelope, at: Date, maxSkewMs = MAX_SKEW_MS): Verdict {
  const signed = Date.parse(env.time);
  if (!Number.isFinite(signed)) return { ok: false, reason: `unreadable time ${JSON.stringify(env.time)}` };
  const skew = at.getTime() - signed;
  if (Math.abs(skew) <= maxSkewMs) return { ok: true };
  const mins = Math.round(Math.abs(skew) / 60_000);
  return {
    ok: false,
    reason:
      skew > 0
        ? `stale: signed ${env.time}, stored ${mins} min later (a replay, or a clock off by more than ${maxSkewMs / 60_000} min)`
        : `signed ${env.time}, ${mins} min in the future (clock off by more than ${maxSkewMs / 60_000} min)`,
  };
}

export function verifyEnvelope(env: Envelope, publicKey: string | undefined): Verdict {
  if (!publicKey) return { ok: false, reason: `sender ${env.from} is not a registered identity` };
  if (!env.sig) return { ok: false, reason: `unsigned message claiming to be from ${env.from}` };
  try {
    const ok = ed25519Verify(publicKey, signingBytes(env), Buffer.from(env.sig, "base64url"));
    return ok ? { ok: true } : { ok: false, reason: `signature does not match ${env.from}'s key (forged sender?)` };
  } catch {
    return { ok: false, reason: `malformed signature on a message from ${env.from}` };
  }
}
