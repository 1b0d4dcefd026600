import type { NatsConnection } from "@nats-io/nats-core";
import { openBody, sealBody, sealedFor, type CurveKey, type Opened, type SealedBody } from "../../subjects/sealed.js";
import type { Envelope } from "../../subjects/envelope-core.js";
import { firstLine } from "../base/nats-errors.js";

/**
 * The sealer a connection seals and opens bodies with (made by sealing.ts `startSealing`), kept
 * apart from it so publishing does not load zod (CLI start-up time). What publish.ts and the
 * receivers use on one connection: its identity, keyring and the directory of sealing keys.
 */
export interface Sealer {
  self: string;
  keyring: { current: CurveKey; publicKey: string; byPublic(xkey: string): CurveKey | undefined };
  /** Whether the sender is a reader of what it seals (false: a one-off key, nothing to read it with later). */
  selfReads: boolean;
  /** The recipient's verified sealing key; undefined when it has published none (it is then sent clear). */
  keyOf(id: string): Promise<string | undefined>;
}

const sealers = new WeakMap<NatsConnection, Sealer>();

export function setSealer(nc: NatsConnection, s: Sealer): void {
  sealers.set(nc, s);
}

export function sealerOf(nc: NatsConnection): Sealer | undefined {
  return sealers.get(nc);
}

export class SealingError extends Error {
  override name = "SealingError";
}

/** Kinds whose body is sealed: what one identity says to another. Events and jobs stay clear. */
const SEALED_KINDS = new Set(["message", "ask", "reply"]);

/**
 * Seals `env`'s body for its recipient and its sender when `nc` has a sealer and the recipient
 * published a key (or `readerKey` names the recipient's key: a reply is sealed to the key its ask
 * was sealed with); `clear` says when it goes clear, and why.
 */
export async function sealForRecipient(nc: NatsConnection, env: Envelope, o: { readerKey?: string } = {}): Promise<{ env: Envelope; clear?: string }> {
  const s = sealers.get(nc);
  if (!s || !SEALED_KINDS.has(env.kind) || env.sealed || env.sig || env.to === "*" || env.from !== s.self) return { env };
  let theirs: string | undefined = o.readerKey;
  try {
    theirs ??= await s.keyOf(env.to);
  } catch (err) {
    if (err instanceof SealingError) throw err;
    throw new SealingError(`cannot read ${env.to}'s sealing key (${firstLine(err)}); not sent in clear`);
  }
  if (!theirs) return { env, clear: `${env.to} has published no sealing key (its sidecar has not run since sealed bodies came in), so this went in clear` };
  const readers: Record<string, string> = { [env.to]: theirs, ...(s.selfReads && env.to !== s.self ? { [s.self]: s.keyring.publicKey } : {}) };
  const { body, ...rest } = env;
  return { env: { ...rest, sealed: sealBody(env.id, body, s.keyring.current, readers) } };
}

/** Opens a sealed envelope's body with `nc`'s keyring: the envelope with its body, or why not. */
export function openSealed(nc: NatsConnection, env: Envelope): { ok: true; env: Envelope } | { ok: false; reason: string } {
  if (!env.sealed) return { ok: true, env };
  const opened = openWith(nc, env.id, env.sealed);
  return opened.ok ? { ok: true, env: { ...env, body: opened.body } } : opened;
}

/**
 * Seals `body` for this connection's identity alone, bound to `id` (what it keeps for itself on the
 * broker, e.g. its A2A task records: readable by no admin); undefined when `nc` has no keyring of its
 * own to open it with later (an open mesh, sealed bodies off, a CLI without its sidecar's keyring).
 */
export function sealForSelf(nc: NatsConnection, id: string, body: unknown): SealedBody | undefined {
  const s = sealers.get(nc);
  if (!s?.selfReads) return undefined;
  return sealBody(id, body, s.keyring.current, { [s.self]: s.keyring.publicKey });
}

/** Opens a sealed body bound to `id` with `nc`'s keyring, or says why not (one line). */
export function openWith(nc: NatsConnection, id: string, sealed: SealedBody): Opened {
  const s = sealers.get(nc);
  if (!s) return { ok: false, reason: `sealed for ${sealedFor(sealed)}; this connection holds no sealing key` };
  return openBody(id, sealed, s.self, (x) => s.keyring.byPublic(x));
}

