/**
 * Errors a person sees. Everything that reaches the CLI's top level becomes one line and a
 * non-zero exit code; MeshError carries an exit code and, where there is one, the fix.
 */
export class MeshError extends Error {
  override name = "MeshError";
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export class ConfigError extends MeshError {
  override name = "ConfigError";
}

export class BrokerUnreachableError extends MeshError {
  override name = "BrokerUnreachableError";
}

/** The broker answered and refused this credential (unknown, revoked, or none given). */
export class CredentialsRefusedError extends MeshError {
  override name = "CredentialsRefusedError";
}

/** Turns any thrown value into one readable line (no stack traces). */
export function oneLine(err: unknown): string {
  if (err instanceof MeshError) return err.message;
  const e = err as { message?: unknown; code?: unknown; name?: unknown };
  let msg = typeof e?.message === "string" && e.message.length > 0 ? e.message : String(err);
  const first = msg.split("\n")[0] ?? msg;
  msg = first.trim();
  return msg.length > 300 ? `${msg.slice(0, 297)}...` : msg;
}
