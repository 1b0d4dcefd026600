import { execFile } from "node:child_process";
import { MeshError } from "../../base/errors.js";

/**
 * The one way this feature runs git: `execFile("git", argv)` — no shell, a fixed argv built by the
 * caller from the config and values the rules in subjects/repos.ts let through, a timeout, no
 * prompts (a fetch that would ask for a password fails instead of hanging).
 */
export class GitError extends MeshError {
  override name = "GitError";
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

export interface GitResult {
  stdout: string;
  stderr: string;
}

export function git(args: string[], o: { timeoutMs?: number; input?: string } = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "git",
      args,
      {
        timeout: o.timeoutMs ?? 30_000,
        killSignal: "SIGKILL",
        maxBuffer: 8 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true", SSH_ASKPASS: "true", LC_ALL: "C" },
        encoding: "utf8",
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        const timedOut = e.killed === true;
        const first = (stderr || e.message).split("\n").map((l) => l.trim()).filter(Boolean).pop() ?? "failed";
        // "git fetch origin <sha>": the command and its operands, without the clone's path and options.
        const what = `git ${(args[0] === "-C" ? args.slice(2) : args).filter((a) => !a.startsWith("-")).slice(0, 3).join(" ")}`;
        if (e.code === "ENOENT") return reject(new GitError("git is not installed (or not on PATH)", false));
        reject(new GitError(timedOut ? `${what} timed out after ${Math.round((o.timeoutMs ?? 30_000) / 1000)}s` : `${what}: ${first}`, timedOut));
      },
    );
    if (o.input !== undefined) child.stdin?.end(o.input);
  });
}

/** True when the command succeeds (a check such as `cat-file -e`). */
export async function gitOk(args: string[], timeoutMs = 10_000): Promise<boolean> {
  try {
    await git(args, { timeoutMs });
    return true;
  } catch (err) {
    if (err instanceof GitError && !err.timedOut) return false;
    throw err;
  }
}
