import { createServer } from "node:net";

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Two ports for two gateways, at least 200 apart (a gateway also uses a few ports above its own). */
export async function gatewayPorts(): Promise<[number, number]> {
  for (;;) {
    const a = await freePort();
    if (a > 60_000) continue;
    return [a, a + 200];
  }
}
