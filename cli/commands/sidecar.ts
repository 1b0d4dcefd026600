import type { GlobalOptions } from "../../src/config/config.js";
import { createLogger } from "../../src/base/log.js";
import { sidecarFromConfig, type SidecarFlags } from "../../src/sidecar/from-config.js";
import { untilSignal } from "./common.js";
import { resolved } from "./common.js";

export async function sidecar(opts: GlobalOptions & SidecarFlags): Promise<void> {
  const r = await resolved(opts);
  const log = createLogger({ name: "mesh-sidecar" });
  const s = await sidecarFromConfig(r, opts, log);
  // Listen before starting: a SIGINT/SIGTERM while it starts (after sidecar.started is out) must
  // still end in a graceful stop with its sidecar.stopped event, not the default exit.
  const signalled = untilSignal();
  await s.start();
  const signal = await signalled;
  await s.stop(signal);
}
