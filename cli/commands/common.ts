/**
 * What every command shares: the flag helpers (connection, config, --json, the broker's state
 * directory), the action wrapper, and the helpers actions call (config, connection, stdin, JSON).
 *
 * Loaded at every start of `mesh` (each noun's register() imports it), so it imports nothing heavy:
 * the config resolver and the NATS client are imported inside the functions that use them.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError, Option, type Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import type { NatsConnection } from "@nats-io/nats-core";
import { identity, identityFromHostname } from "../../subjects/identity.js";
import type { GlobalOptions, Resolved } from "../../src/config/config.js";
import { meshHome } from "../../src/base/files.js";
import { MeshError, oneLine } from "../../src/base/errors.js";

// ── flags ──────────────────────────────────────────────────────────────────────────────────────

/** The connection flags of every command (natscli's --server, --creds, --context), read as globals. */
export function connectionFlags(): Option[] {
  return [
    new Option("-s, --server <url>", "broker URL(s), comma-separated").env("MESH_SERVER"),
    new Option("--creds <file>", "NATS credentials file of this identity").env("MESH_CREDS"),
    new Option("--context <name>", "a natscli context (~/.config/nats/context/<name>.json): its url, creds, nkey, user/password, token, TLS files").env(
      "MESH_CONTEXT",
    ),
  ];
}

/** Which config file and which identity every command acts as. */
export function configFlags(): Option[] {
  return [
    new Option("-c, --config <file>", "config file (default ~/.config/openclaw-mesh/config.json)").env("MESH_CONFIG"),
    new Option("-i, --identity <name>", "this machine's identity").env("MESH_IDENTITY"),
  ];
}

/** Adds the global flags (connection + config) to the root command; every subcommand reads them. */
export function addGlobalFlags(program: Command): void {
  for (const o of [...connectionFlags(), ...configFlags()]) program.addOption(o);
}

/** `--json` on every command whose output a program may read (natscli's shared flag). */
export function jsonFlag(what: string): Option {
  return new Option("--json", what);
}

/**
 * The broker's state directory. `--state-dir` alone means the sidecar's folder (mesh sidecar);
 * the broker's is `--broker-state-dir`, with `--state-dir` kept hidden on broker commands as the
 * earlier spelling. Read the value with {@link brokerStateDirFlag}.
 */
export function brokerStateDirOptions(what = "the broker's state directory (default ~/.config/openclaw-mesh/broker)"): Option[] {
  return [new Option("--broker-state-dir <dir>", what), new Option("--state-dir <dir>", "the same as --broker-state-dir (earlier spelling)").hideHelp()];
}

/** The value of {@link brokerStateDirOptions}: the new spelling first. */
export function brokerStateDirFlag(opts: { brokerStateDir?: string; stateDir?: string }): string | undefined {
  return opts.brokerStateDir ?? opts.stateDir;
}

export function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

export function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`expected a port (1-65535), got ${JSON.stringify(v)}`);
  return n;
}

// ── actions ────────────────────────────────────────────────────────────────────────────────────

/**
 * Wraps an action: passes the command's options merged with the globals (optsWithGlobals()),
 * prints one-line errors, sets the exit code. Typed end to end (@commander-js/extra-typings):
 * `.action()` accepts the wrapper only when every positional argument and flag the command
 * declares is assignable to the action's parameters. Actions import their heavy modules
 * themselves, when they run, so `mesh --help` loads none of them.
 */
export function run<A extends unknown[]>(action: (...args: A) => Promise<number | void>) {
  return async (...args: [...A, CommandUnknownOpts]): Promise<void> => {
    const cmd = args[args.length - 1] as CommandUnknownOpts;
    const positional = args.slice(0, -2);
    try {
      // optsWithGlobals(): this command's options and every parent's (the global --server, --creds, …).
      const code = await action(...([...positional, cmd.optsWithGlobals()] as unknown as A));
      if (typeof code === "number") process.exitCode = code;
    } catch (err) {
      process.stderr.write(`mesh: ${oneLine(err)}\n`);
      if (process.env.MESH_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = err instanceof MeshError ? err.exitCode : 1;
    }
  };
}

/** The configuration a command runs with: its flags over the environment, the config file and the selected natscli context. */
export async function configFor(opts: GlobalOptions): Promise<Resolved> {
  const { resolveConfig } = await import("../../src/config/config.js");
  return resolveConfig(opts);
}

/** This machine's identity: --identity / MESH_IDENTITY / config, else derived from the host name. */
export function selfIdentity(r: Resolved, override?: string): string {
  return identity(override ?? r.identity ?? identityFromHostname(hostname()), "sender identity");
}

/**
 * Runs `fn` on a connection to the mesh as this identity. `seal`: on a secure mesh, messages and
 * asks are sealed for their recipient and answers opened, with this identity's keyring on this Mac
 * (its sidecar's `xkeys.json`; without one, a one-off key that seals but cannot open).
 * `needsHub`: in leaf mode, the sentence that ends "<the link line>: …" when the hub cannot be
 * reached (exit 3), said before `fn` runs.
 */
export async function withConnection<T>(r: Resolved, fn: (nc: NatsConnection) => Promise<T>, o: { seal?: boolean; needsHub?: string } = {}): Promise<T> {
  const [{ connectionOf, sidecarStateDir }, { connectMesh, signerOf }] = await Promise.all([import("../../src/config/config.js"), import("../../src/bus/connection.js")]);
  const self = selfIdentity(r);
  const nc = await connectMesh({ ...connectionOf(r), name: "mesh-cli", identity: self });
  try {
    const leaf = r.config.leaf;
    if (leaf && o.needsHub) {
      // Leaf mode: what lives only on the hub is said to be out of reach at once (exit 3), never waited out.
      const { describeLink, linkState } = await import("../../src/ops/leaf-link.js");
      const link = await linkState(nc, leaf.mac, leaf.stateDir);
      if (!link.connected) throw new MeshError(`${describeLink(link)}: ${o.needsHub}`, 3);
    }
    if (o.seal && signerOf(nc)) {
      const [{ startSealing, SEALING_KEYS_FILE }, { MeshVerifier }, { createLogger }] = await Promise.all([
        import("../../src/bus/sealing.js"),
        import("../../src/bus/verify.js"),
        import("../../src/base/log.js"),
      ]);
      const log = createLogger({ name: "mesh-cli", level: "silent" });
      const verifier = await MeshVerifier.open(nc, log);
      await startSealing(nc, self, join(sidecarStateDir(r, self), SEALING_KEYS_FILE), verifier, log, { publish: false, create: false });
    }
    return await fn(nc);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

export async function readStdin(what = "text"): Promise<string> {
  if (process.stdin.isTTY) throw new MeshError(`no ${what} given: pass it as an argument or pipe it on stdin`);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8").replace(/\n$/, "");
  if (text.length === 0) throw new MeshError(`no ${what} given: stdin was empty`);
  return text;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The broker's state directory: the flag, the config's broker.stateDir, or ~/.config/openclaw-mesh/broker. */
export function brokerStateDir(r: Resolved, flag?: string): string {
  return flag ?? r.config.broker?.stateDir ?? join(meshHome(), "broker");
}

/** Resolves with the signal that asks a long-running command (sidecar, up, web) to stop. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
}
