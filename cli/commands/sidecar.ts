/** `mesh sidecar`: this machine's sidecar. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import type { GlobalOptions } from "../../src/config/config.js";
import type { SidecarFlags } from "../../src/sidecar/from-config.js";
import { configFor, run, untilSignal } from "./common.js";

export function register(program: Command): void {
  program
    .command("sidecar")
    .description("run this machine's sidecar: inbox → local gateway, asks, events, presence")
    .option("--gateway <url>", "the local OpenClaw gateway (default from config, else http://127.0.0.1:18789)")
    .option("--state-dir <dir>", "where the delivered-message journal lives")
    .option("--capabilities <list>", "comma-separated capabilities (default from config)")
    .addHelpText(
      "after",
      `
Needs the gateway's hooks token (config gateway.hooksTokenFile, or MESH_HOOKS_TOKEN) and, for
\`mesh ask\` replies and mirrored gateway events, its gateway token (gateway.tokenFile or
MESH_GATEWAY_TOKEN). Tokens never go on the bus or into logs.

Example:
  $ MESH_IDENTITY=nova mesh sidecar --gateway http://127.0.0.1:18789`,
    )
    .action(run(sidecar));
}

async function sidecar(opts: GlobalOptions & SidecarFlags): Promise<void> {
  const [{ createLogger }, { sidecarFromConfig }] = await Promise.all([import("../../src/base/log.js"), import("../../src/sidecar/from-config.js")]);
  const r = await configFor(opts);
  const log = createLogger({ name: "mesh-sidecar" });
  const s = await sidecarFromConfig(r, opts, log);
  // Listen before starting: a SIGINT/SIGTERM while it starts (after sidecar.started is out) must
  // still end in a graceful stop with its sidecar.stopped event, not the default exit.
  const signalled = untilSignal();
  await s.start();
  const signal = await signalled;
  await s.stop(signal);
}
