import { connectionOf, type GlobalOptions } from "../../src/config/config.js";
import { createLogger } from "../../src/base/log.js";
import { parseDuration } from "../../src/base/duration.js";
import { connectMesh } from "../../src/bus/connection.js";
import { isLoopback, startWebView } from "../../src/ops/web/mod.js";
import { MeshError } from "../../src/base/errors.js";
import { untilSignal } from "./common.js";
import { resolved, selfIdentity } from "./common.js";

interface WebOptions extends GlobalOptions {
  host: string;
  port: number;
  token?: string;
  staleAfter?: string;
  offlineAfter?: string;
}

/** `mesh web`: the live page of the mesh, read with this identity's own credential. */
export async function web(opts: WebOptions): Promise<void> {
  const r = await resolved(opts);
  const self = selfIdentity(r);
  const log = createLogger({ name: "mesh-web" });
  const nc = await connectMesh({ ...connectionOf(r), name: `mesh-web-${self}`, identity: self, persistent: true });
  if (!isLoopback(opts.host)) {
    process.stderr.write(
      `mesh web: WARNING: listening on ${opts.host}, not loopback: anyone who can reach it and has the token sees what ${self} sees on the mesh (plain HTTP: keep it on the tailnet)\n`,
    );
  }
  const view = await startWebView({
    nc,
    self,
    host: opts.host,
    port: opts.port,
    log,
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.staleAfter ? { staleAfterMs: parseDuration(opts.staleAfter) } : {}),
    ...(opts.offlineAfter ? { offlineAfterMs: parseDuration(opts.offlineAfter) } : {}),
  }).catch(async (err: NodeJS.ErrnoException) => {
    await nc.close();
    if (err.code === "EADDRINUSE") throw new MeshError(`port ${opts.port} on ${opts.host} is in use (another mesh web?): pass --port`);
    throw err;
  });
  const open = view.token && view.generatedToken ? `${view.url}?token=${view.token}` : view.url;
  process.stdout.write(`web: ${open} (read-only, as ${self}; Ctrl-C to stop)\n`);
  if (view.token && !view.generatedToken) process.stdout.write(`web: open it with ?token=<your --token> once; the page keeps it in a cookie\n`);
  const signal = await untilSignal();
  process.stdout.write(`${signal}: stopping\n`);
  await view.close();
  await nc.drain().catch(() => undefined);
}
