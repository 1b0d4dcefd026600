import { pino, type Logger } from "pino";

/**
 * Structured logs (JSON lines on stderr). Secrets never appear: every known secret field is
 * redacted wherever it sits, and code logs tokens by presence only.
 */
export const REDACT_PATHS = [
  "token",
  "hooksToken",
  "authorization",
  "Authorization",
  "password",
  "pass",
  "creds",
  "seed",
  "*.token",
  "*.hooksToken",
  "*.authorization",
  "*.Authorization",
  "*.password",
  "*.seed",
  "*.*.token",
  "*.*.hooksToken",
  "headers.authorization",
  "headers.Authorization",
  // gateway token, hook-rule webhook secrets (HMAC keys), nkey seeds
  "gatewayToken",
  "*.gatewayToken",
  "secret",
  "*.secret",
  "*.*.secret",
  "*.*.seed",
  "*.*.password",
  "*.headers.authorization",
  "*.headers.Authorization",
];

export function createLogger(opts: { name: string; level?: string; destination?: number | string }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? process.env.MESH_LOG_LEVEL ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: opts.destination ?? 2, sync: true }),
  );
}

export type { Logger };
