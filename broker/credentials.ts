// Kept free of other imports: src/connection.ts loads it on every CLI start.

/**
 * The credential file of an identity: a comment naming the identity, then its nkey seed. The seed
 * authenticates the connection and signs envelopes; the name lets the connection check that it runs
 * as the identity the key was issued to (and pick its _INBOX_<id> prefix).
 */
export function credentialText(id: string, seed: string): string {
  return `# openclaw-mesh credential of identity ${id} (nkey seed: keep it private, 0600)\n${seed}\n`;
}

/** Reads a credential file's text: the seed and, when the file names it, the identity. */
export function parseCredential(text: string): { seed: string; identity?: string } | undefined {
  let identity: string | undefined;
  const rest: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^#.*credential of identity ([a-z0-9-]+)/.exec(line);
    if (m) identity = m[1];
    else if (!line.startsWith("#")) rest.push(line);
  }
  if (rest.length !== 1 || !/^S[UA][A-Z2-7]{50,}$/.test(rest[0]!)) return undefined;
  return { seed: rest[0]!, ...(identity ? { identity } : {}) };
}
