/**
 * `mesh identity add|revoke|list`: the broker's registry of identities, each with its own
 * credential (an nkey) and least-privilege grants. The earlier spellings `mesh broker add-identity`
 * and `mesh broker revoke` are the same commands (broker.ts declares them hidden, with these
 * builders). The actions live in broker-auth.ts and load when one runs.
 */
import type { Command } from "@commander-js/extra-typings";
import type { AuthOpts } from "./broker-auth.js";
import { brokerStateDirOptions, jsonFlag, run } from "./common.js";

const add = async (id: string, opts: AuthOpts): Promise<void> => (await import("./broker-auth.js")).addIdentityCmd(id, opts);
const revoke = async (id: string, opts: AuthOpts): Promise<void> => (await import("./broker-auth.js")).revokeCmd(id, opts);
const list = async (opts: AuthOpts & { json?: boolean }): Promise<void> => (await import("./broker-auth.js")).listCmd(opts);

export function register(program: Command): void {
  const identity = program
    .command("identity")
    .description("issue, revoke and list the identities the broker admits (run on the broker's machine)")
    .addHelpText(
      "after",
      `
Examples:
  $ mesh identity add nova --capabilities gpu,xcode --alerts
  $ mesh identity list
  $ mesh identity revoke lyra`,
    );
  declareAdd(identity.command("add"));
  declareRevoke(identity.command("revoke"));
  const ls = identity
    .command("list")
    .description("the identities in the broker's registry, with their public keys and grants")
    .addOption(jsonFlag("print as JSON"));
  for (const o of brokerStateDirOptions()) ls.addOption(o);
  ls.action(run(list));
}

/** `identity add` (and `broker add-identity`): arguments, flags, help and action. */
export function declareAdd(cmd: Command): void {
  const c = cmd
    .description("issue an identity its own credential (an nkey) with least-privilege permissions")
    .argument("<identity>", "e.g. nova");
  for (const o of brokerStateDirOptions("broker state directory")) c.addOption(o);
  c.option("--out <file>", "where to write the credential (default <broker-state-dir>/creds/<identity>.nk)")
    .option("--capabilities <list>", "comma-separated capabilities it may serve jobs for (e.g. gpu,xcode; default none)")
    .option("--queues <list>", "comma-separated job queues it may serve (default: default)")
    .option("--alerts", "may hold the peer-alert lease and record peer up/down transitions")
    .option("--hooks", "gets its own copy of the mesh's events for hook rules (the default)")
    .option("--no-hooks", "no copy of the events: the identity cannot run hook rules (for meshes of many identities)")
    .addHelpText(
      "after",
      "\nNo broker downtime: the running broker reloads its configuration. Run it again with other\n" +
        "grants to change them (same key). Example:\n  mesh identity add nova --capabilities gpu,xcode --alerts\n" +
        "Each identity with hooks keeps a copy of every event of the mesh (HOOKS-<identity>): on a mesh of\n" +
        "many agents, add those without hook rules with --no-hooks.",
    )
    .action(run(add));
}

/** `identity revoke` (and `broker revoke`). */
export function declareRevoke(cmd: Command): void {
  const c = cmd.description("remove an identity's credential; the broker refuses it at once").argument("<identity>", "e.g. nova");
  for (const o of brokerStateDirOptions("broker state directory")) c.addOption(o);
  c.action(run(revoke));
}
