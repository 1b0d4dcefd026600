/** True for an address only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * DNS rebinding guard for servers on loopback: a browser that resolved attacker.example to
 * 127.0.0.1 still sends `Host: attacker.example`, so a loopback server answers only requests whose
 * Host names loopback and its own port (the web view and the sidecar's HTTP port both use this).
 */
export function loopbackHostAllowed(host: string | undefined, port: number): boolean {
  const h = (host ?? "").toLowerCase();
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(h);
}

/**
 * The same rule for a listener beyond loopback (the sidecar's opt-in A2A listener): the Host must
 * name the address it was configured with, or loopback, and its port; anything else is a rebound
 * or mistaken name and is refused.
 */
export function listenerHostAllowed(host: string | undefined, listenHost: string, port: number): boolean {
  const h = (host ?? "").toLowerCase();
  const named = listenHost.includes(":") && !listenHost.startsWith("[") ? `[${listenHost}]` : listenHost;
  return h === `${named.toLowerCase()}:${port}` || loopbackHostAllowed(h, port);
}
