import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { findNatsServer } from "../../broker/local.js";
import { renderServerConfig } from "../../broker/server-config.js";
import { macLeafOptions, parseLeafCredential } from "../../broker/leaf-server.js";
import { identity } from "../../subjects/identity.js";
import { MeshError } from "../base/errors.js";
import { installService } from "./service-install.js";
import type { Step, StepStatus } from "./steps.js";

/** `mesh init --leaf`: what it needs to know (every port a config key and a flag). */
export interface LeafInitOptions {
  mac: string;
  /** The hub's leafnode address, nats-leaf://host:7422. */
  hub: string;
  /** The leaf credential from `mesh broker add-mac` (0600). */
  credentialFile: string;
  /** The leaf server's client port on 127.0.0.1. */
  port: number;
  /** Its monitoring port on 127.0.0.1 (link state and backlog). */
  monitorPort: number;
  /** Its config, store and log. */
  stateDir: string;
}

/**
 * The Mac's leaf server: its config (0600: it holds the leaf credential) and a launchd/systemd
 * service running nats-server on it, next to the sidecar's. Returns the server the config points at.
 */
export function leafInit(
  o: LeafInitOptions,
  env: {
    platform: NodeJS.Platform;
    home: string;
    dryRun: boolean;
    noStart: boolean;
    logDir: string;
    write: (path: string, content: string, mode: number, dryRun: boolean) => StepStatus;
    has: (cmd: string) => boolean;
  },
): { steps: Step[]; server: string } {
  const mac = identity(o.mac, "Mac name");
  if (!existsSync(o.credentialFile)) throw new MeshError(`leaf credential ${o.credentialFile} not found: the admin makes it with \`mesh broker add-mac ${mac} --identity …\``);
  const credential = parseLeafCredential(readFileSync(o.credentialFile, "utf8"));
  if (!credential) throw new MeshError(`${o.credentialFile} is not a leaf credential (it comes from \`mesh broker add-mac ${mac}\`)`);
  const confPath = join(o.stateDir, "nats-server.conf");
  const conf = renderServerConfig({
    serverName: `leaf-${mac}`,
    host: "127.0.0.1",
    port: o.port,
    monitorPort: o.monitorPort,
    storeDir: join(o.stateDir, "jetstream"),
    ...macLeafOptions({ mac, hub: o.hub, credential }),
  });
  const steps: Step[] = [{ step: "leaf server config", status: env.write(confPath, conf, 0o600, env.dryRun), detail: `${confPath} (0600; domain mac-${mac}, link to ${o.hub})` }];
  let nats: string;
  try {
    nats = findNatsServer();
  } catch (err) {
    steps.push({ step: "leaf service", status: "failed", detail: (err as Error).message });
    return { steps, server: `nats://127.0.0.1:${o.port}` };
  }
  const spec = { kind: "leaf" as const, argv: [nats, "-c", confPath, "-P", join(o.stateDir, "nats-server.pid")], env: {}, logDir: env.logDir };
  steps.push(...installService({ platform: env.platform, home: env.home, spec, dryRun: env.dryRun, noStart: env.noStart, write: env.write, has: env.has }));
  return { steps, server: `nats://127.0.0.1:${o.port}` };
}
