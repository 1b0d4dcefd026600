/**
 * DNS rebinding guard for servers on loopback: a browser that resolved attacker.example to
 * 127.0.0.1 still sends `Host: attacker.example`, so a loopback server answers only requests whose
 * Host names loopback and its own port (the web view and the sidecar's HTTP port both use this).
 */
export function loopbackHostAllowed(host: string | undefined, port: number): boolean {
  const h = (host ?? "").toLowerCase();
  return [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(h);
}
