/**
 * Shared repos: the pure rules every side applies to what a `git.pushed` event, a job's `--repo/--at`
 * or the config names — remote URLs without credentials, and values that may become git arguments.
 * No I/O here: src/features/repos/ runs git with what these rules let through.
 */

/** A full object name (SHA-1, or SHA-256 repositories). */
export const SHA_RE = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function isSha(s: string): boolean {
  return SHA_RE.test(s);
}

/** A remote URL as it may be shown and published: user and password removed (http tokens live there). */
export function stripCredentials(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(.*)$/i.exec(url);
  if (scheme) {
    const [, proto, authority, rest] = scheme as unknown as [string, string, string, string];
    const at = authority.lastIndexOf("@");
    if (at < 0) return url;
    // ssh://git@host keeps its user (a login name, not a secret) but never a password.
    if (/^(ssh|git\+ssh|ssh\+git)$/i.test(proto)) return `${proto}://${authority.slice(0, at).split(":")[0]}@${authority.slice(at + 1)}${rest}`;
    return `${proto}://${authority.slice(at + 1)}${rest}`;
  }
  return url;
}

/**
 * The form two remote URLs are compared in: no credentials, no user, scheme and host lowercased,
 * scp-like `git@host:path` read as ssh://host/path, no trailing slash or `.git`. Two clones of one
 * repository (one with a token in its URL, one without) compare equal.
 */
export function normalizeRemote(url: string): string {
  let u = url.trim();
  const scp = /^(?:[^@/:]+@)?([^/:]+):(?!\/\/)(.+)$/.exec(u);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) u = `ssh://${scp[1]}/${scp[2]}`;
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(.*)$/i.exec(u);
  if (m) {
    const [, proto, authority, rest] = m as unknown as [string, string, string, string];
    const host = authority.slice(authority.lastIndexOf("@") + 1).toLowerCase();
    let scheme = proto.toLowerCase();
    if (scheme === "git+ssh" || scheme === "ssh+git") scheme = "ssh";
    u = `${scheme}://${host}${rest}`;
  }
  return u.replace(/\/+$/, "").replace(/\.git$/, "").replace(/\/+$/, "");
}

/** Why this value must not become a git argument (it would read as an option), or undefined. */
export function optionLike(what: string, value: string): string | undefined {
  if (value.startsWith("-")) return `${what} ${JSON.stringify(value)} starts with "-" (it would be read as a git option)`;
  if (/[\0-\x1f\x7f]/.test(value)) return `${what} ${JSON.stringify(value)} contains a control character`;
  return undefined;
}

/** Why this is not a ref name a push can carry (git check-ref-format, the parts that matter here), or undefined. */
export function refNameRefusal(ref: string): string | undefined {
  const bad = optionLike("ref", ref);
  if (bad) return bad;
  if (!ref.startsWith("refs/")) return `ref ${JSON.stringify(ref)} is not under refs/`;
  if (/(^|\/)\.|\.\.|[ ~^:?*[\\]|@\{|\.lock(\/|$)|\/$|\/\//.test(ref)) return `ref ${JSON.stringify(ref)} is not a valid ref name`;
  return undefined;
}

/** A repo's short name from its path or URL: the last segment without `.git`. */
export function repoNameFrom(pathOrUrl: string): string {
  const last = pathOrUrl.replace(/\/+$/, "").split(/[/:]/).pop() ?? "";
  return last.replace(/\.git$/, "").toLowerCase();
}

/** The branch a remote ref names (refs/heads/main → main), or undefined for other refs. */
export function branchOf(ref: string): string | undefined {
  return ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : undefined;
}

/** A SHA as people read it in one line. */
export function shortSha(sha: string): string {
  return sha.slice(0, 12);
}

/**
 * The native form of a pinned job (an agent's message to a job peer): a first line
 * `[repo <name> at <sha|branch>]`, then the task. Returns the pin and the task without that line.
 */
export function parsePinLine(text: string): { pin?: { repo: string; at: string }; task: string } {
  const m = /^\[repo ([A-Za-z0-9._-]{1,100}) at ([^\s\]]{1,255})\][ \t]*(?:\r?\n|$)/.exec(text);
  if (!m) return { task: text };
  return { pin: { repo: m[1]!, at: m[2]! }, task: text.slice(m[0].length) };
}
