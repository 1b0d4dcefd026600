/**
 * A TCP proxy in a leaf → hub link, for fault tests: it can reset the link (RST, and refuse new
 * connections until restored), drop it silently (sockets stay open, no byte passes either way, new
 * connections hang), or let it flap. Loopback only.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export type LinkState = "up" | "reset" | "dropped";

export interface LinkProxy {
  port: number;
  state: LinkState;
  /** Connections accepted so far (each reconnect of the leaf is one). */
  accepted: number;
  /** RST every connection; new ones are reset at once until up(). */
  reset(): void;
  /** Stop forwarding both ways without closing anything; new connections hang until up(). */
  drop(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startLinkProxy(target: { host: string; port: number }): Promise<LinkProxy> {
  const pairs = new Set<{ a: Socket; b: Socket }>();
  let state: LinkState = "up";
  const server: Server = createServer((a) => {
    proxy.accepted++;
    if (state === "reset") return void a.resetAndDestroy();
    const b = createConnection(target);
    const pair = { a, b };
    pairs.add(pair);
    const forward = (from: Socket, to: Socket): void => {
      from.on("data", (d) => {
        if (state === "up") to.write(d);
      });
    };
    forward(a, b);
    forward(b, a);
    const end = (): void => {
      pairs.delete(pair);
      a.destroy();
      b.destroy();
    };
    a.on("error", end).on("close", end);
    b.on("error", end).on("close", end);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const proxy: LinkProxy = {
    port: (server.address() as { port: number }).port,
    get state() {
      return state;
    },
    accepted: 0,
    reset() {
      state = "reset";
      for (const p of pairs) {
        p.a.resetAndDestroy();
        p.b.resetAndDestroy();
      }
      pairs.clear();
    },
    drop() {
      state = "dropped";
    },
    up() {
      // What was silently dropped stays dropped: those connections are dead for both ends (as after
      // a real outage); the leaf's pings find that and it connects again.
      if (state === "dropped") for (const p of pairs) p.a.pause(), p.b.pause();
      if (state === "dropped") {
        const dead = [...pairs];
        pairs.clear();
        for (const p of dead) {
          p.a.removeAllListeners("data");
          p.b.removeAllListeners("data");
        }
      }
      state = "up";
    },
    close: () =>
      new Promise<void>((r) => {
        for (const p of pairs) p.a.destroy(), p.b.destroy();
        server.close(() => r());
      }),
  };
  return proxy;
}
