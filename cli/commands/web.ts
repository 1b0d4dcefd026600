/** `mesh web`: the live page of the mesh. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import type { GlobalOptions } from "../../src/config/config.js";
import { parseDuration } from "../../src/base/duration.js";
import { MeshError } from "../../src/base/errors.js";
import { DEFAULT_WEB_PORT } from "../../src/ops/web/defaults.js";
import { isLoopback } from "../../src/base/loopback-host.js";
import { parsePort, configFor, run, selfIdentity, untilSignal } from "./common.js";

export function register(program: Command): void {
  program
    .command("web")
    .description("a live web page of the mesh: peers, inboxes, messages, jobs, dead letters, alerts (read-only)")
    .option("--host <host>", "address to listen on; anything but loopback needs a token (printed when generated)", "127.0.0.1")
    .option("--port <port>", "port", (v) => parsePort(v), DEFAULT_WEB_PORT)
    .option("--token <token>", "the token the page must present off loopback (default: generated and printed)")
    .option("--stale-after <duration>", "a peer silent this long is shown stale (default 15s)")
    .option("--offline-after <duration>", "a peer silent this long is shown offline (default 60s)")
    .addHelpText(
      "after",
      `
Reads the mesh with this identity's own credential (--creds / config), so it shows only what this
identity may see. No gateway or hooks token is ever sent to the page.

Examples:
  $ mesh web                                          http://127.0.0.1:${DEFAULT_WEB_PORT}/
  $ mesh web --host "$(tailscale ip -4)"              on the tailnet, with a generated token`,
    )
    .action(run(web));
}

interface WebOptions extends GlobalOptions {
  host: string;
  port: number;
  token?: string;
  staleAfter?: string;
  offlineAfter?: string;
}

/** `mesh web`: the live page of the mesh, read with this identity's own credential. */
async function web(opts: WebOptions): Promise<void> {
  const [{ connectionOf }, { createLogger }, { connectMesh }, { startWebView }] = await Promise.all([
    import("../../src/config/config.js"),
    import("../../src/base/log.js"),
    import("../../src/bus/connection.js"),
    import("../../src/ops/web/mod.js"),
  ]);
  const r = await configFor(opts);
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
    ...(r.config.leaf ? { leaf: { mac: r.config.leaf.mac, stateDir: r.config.leaf.stateDir } } : {}),
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
