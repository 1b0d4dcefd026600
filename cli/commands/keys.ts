/** `mesh keys show|rotate`: this identity's sealing keys (README "Sealed bodies"). register() declares them; each action loads what it runs. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "@commander-js/extra-typings";
import { MeshError } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, printJson, configFor, run, selfIdentity, withConnection } from "./common.js";

export function register(program: Command): void {
  const keys = program.command("keys").description("this identity's sealing keys: what message bodies are sealed to");

  keys
    .command("show")
    .description("the keyring on this Mac and the key the mesh seals to (published in mesh-xkeys)")
    .addOption(jsonFlag("print as JSON"))
    .action(run(show));

  keys
    .command("rotate")
    .description("make a new sealing key on this Mac; the sidecar publishes it when it restarts")
    .addOption(jsonFlag("print as JSON"))
    .addHelpText(
      "after",
      `
The new key seals from the sidecar's next start; the old keys stay in the keyring, so what was
sealed to them still opens. Nothing leaves this Mac but the public key.

Example:
  $ mesh keys rotate && systemctl --user restart openclaw-mesh        (Linux)
  $ mesh keys rotate && launchctl kickstart -k gui/$(id -u)/ai.openclaw.mesh.sidecar   (macOS)`,
    )
    .action(run(rotate));
}

async function keyringPath(opts: GlobalOptions): Promise<{ path: string; self: string; r: Awaited<ReturnType<typeof configFor>> }> {
  const [{ sidecarStateDir }, { SEALING_KEYS_FILE }] = await Promise.all([import("../../src/config/config.js"), import("../../src/bus/sealing.js")]);
  const r = await configFor(opts);
  const self = selfIdentity(r);
  return { path: join(sidecarStateDir(r, self), SEALING_KEYS_FILE), self, r };
}

async function show(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const [{ Keyring, publishedKey }] = await Promise.all([import("../../src/bus/sealing.js")]);
  const { path, self, r } = await keyringPath(opts);
  const ring = existsSync(path) ? Keyring.loadOrCreate(path) : undefined;
  const published = await withConnection(r, (nc) => publishedKey(nc, self));
  const view = {
    identity: self,
    keyring: path,
    keys: ring?.size ?? 0,
    current: ring?.publicKey ?? null,
    published: published ?? null,
    inUse: ring !== undefined && published === ring.publicKey,
  };
  if (opts.json) return printJson(view);
  process.stdout.write(`identity   ${self}\nkeyring    ${path} (${ring ? `${ring.size} key${ring.size === 1 ? "" : "s"}` : "none: the sidecar makes one at its first start"})\n`);
  process.stdout.write(`current    ${view.current ?? "-"}\npublished  ${view.published ?? "- (messages to this identity go in clear)"}\n`);
  if (ring && published && published !== ring.publicKey) {
    process.stdout.write(`the published key is not this keyring's newest: restart the sidecar to publish it${ring.byPublic(published) ? "" : " (and the published one is not in this keyring: is the sidecar on another Mac?)"}\n`);
  }
}

async function rotate(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const { Keyring } = await import("../../src/bus/sealing.js");
  const { path } = await keyringPath(opts);
  if (!existsSync(path)) throw new MeshError(`no keyring at ${path}: the sidecar makes one at its first start (is this the sidecar's Mac and --config?)`);
  const ring = Keyring.rotate(path);
  if (opts.json) return printJson({ keyring: path, keys: ring.size, current: ring.publicKey });
  process.stdout.write(`new sealing key ${ring.publicKey} (${ring.size} keys in ${path}); restart the sidecar to publish it\n`);
}
