/**
 * Identity names: the only user-supplied text that ever becomes a subject token.
 * Lowercase letters, digits and dashes; starts and ends with a letter or digit; 1..32 chars.
 * Anything else (dots, spaces, `*`, `>`, control characters, unicode) is refused before it can
 * reach a subject.
 */
export const IDENTITY_MAX = 32;
const IDENTITY_RE = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

export class InvalidNameError extends Error {
  override name = "InvalidNameError";
}

function describe(raw: string): string {
  // Show control characters escaped so the error line stays one readable line.
  return JSON.stringify(raw).slice(0, 60);
}

function why(raw: string): string {
  if (raw.length === 0) return "it is empty";
  if (raw.length > IDENTITY_MAX) return `it is longer than ${IDENTITY_MAX} characters`;
  if (raw.includes(".")) return "it contains a dot";
  if (/[*>]/.test(raw)) return "it contains a NATS wildcard (* or >)";
  if (/\s/.test(raw)) return "it contains whitespace";
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) return "it contains a control character";
  if (/[A-Z]/.test(raw)) return "it contains uppercase letters";
  if (raw.startsWith("-") || raw.endsWith("-")) return "it starts or ends with a dash";
  return "only lowercase letters, digits and dashes are allowed";
}

export function isIdentity(raw: unknown): raw is string {
  return typeof raw === "string" && IDENTITY_RE.test(raw);
}

/** Returns the name unchanged, or throws InvalidNameError with a one-line reason. */
export function identity(raw: string, what = "identity"): string {
  if (!isIdentity(raw)) {
    throw new InvalidNameError(
      `invalid ${what} ${describe(raw)}: ${why(raw)} (use lowercase letters, digits and dashes, at most ${IDENTITY_MAX})`,
    );
  }
  return raw;
}

/** Same rule as identity names, used for queue names, capabilities and event kind tokens. */
export function token(raw: string, what: string): string {
  return identity(raw, what);
}

/** A suggested identity from a host name: "Nova's MacBook.local" -> "novas-macbook". */
export function identityFromHostname(host: string): string {
  const base = host.split(".")[0] ?? host;
  const cleaned = base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, IDENTITY_MAX)
    .replace(/-$/, "");
  return cleaned.length > 0 ? cleaned : "local";
}
