import { connect } from "node:net";
import { sleep } from "./backoff.js";

/** How often a wait for an unreachable endpoint tries a TCP connection (one per waiting caller). */
export const REACHABLE_PROBE_MS = 1000;

/** True when something accepts a TCP connection at the URL's host and port within `timeoutMs`. */
export function acceptsConnections(url: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return resolve(false);
    }
    const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
    const socket = connect({ host: u.hostname.replace(/^\[|\]$/g, ""), port });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.on("error", () => undefined);
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * A retry delay for an endpoint that could not be reached: waits up to `ms`, trying a TCP
 * connection every {@link REACHABLE_PROBE_MS}, and ends early once one is accepted. A gateway that
 * comes back is retried within about a second, not at the end of a backoff that grew while it was
 * away (up to 15 s). "reachable" (it listens again: start the backoff over), "waited", or "aborted".
 */
export async function waitReachable(url: string, ms: number, signal?: AbortSignal): Promise<"reachable" | "waited" | "aborted"> {
  const until = Date.now() + ms;
  for (;;) {
    const left = until - Date.now();
    if (left <= 0) return "waited";
    if (!(await sleep(Math.min(left, REACHABLE_PROBE_MS), signal))) return "aborted";
    if (Date.now() >= until) return "waited";
    if (await acceptsConnections(url, Math.min(1000, Math.max(50, until - Date.now())))) return signal?.aborted ? "aborted" : "reachable";
  }
}
