#!/usr/bin/env node
/**
 * The `mesh` command: the root, its global flags and help. Each noun registers its own commands,
 * flags and help (cli/commands/<noun>.ts, as natscli has one file per noun); their actions import
 * what they run only when they run, so a cold start loads commander and the declarations alone.
 * Every error leaves as one line + exit code (commands/common.ts run()).
 */
import { Command } from "@commander-js/extra-typings";
import { VERSION } from "../src/base/version.js";
import { addGlobalFlags } from "./commands/common.js";
import * as pub from "./commands/pub.js";
import * as sub from "./commands/sub.js";
import * as send from "./commands/send.js";
import * as ask from "./commands/ask.js";
import * as peers from "./commands/peers.js";
import * as sidecar from "./commands/sidecar.js";
import * as skill from "./commands/skill.js";
import * as job from "./commands/job.js";
import * as git from "./commands/git.js";
import * as hooks from "./commands/hooks.js";
import * as init from "./commands/init.js";
import * as doctor from "./commands/doctor.js";
import * as top from "./commands/top.js";
import * as web from "./commands/web.js";
import * as broker from "./commands/broker.js";
import * as identity from "./commands/identity.js";
import * as up from "./commands/up.js";
import * as keys from "./commands/keys.js";

const program = new Command()
  .name("mesh")
  .description("openclaw-mesh: connect OpenClaw gateways on several machines through a NATS JetStream bus")
  .version(VERSION);
addGlobalFlags(program);
program
  .configureOutput({
    // Commander's own errors (unknown option, bad argument) as one line, like ours.
    outputError: (str, write) => write(`mesh: ${str.replace(/^error: /, "").trim()} (see --help)\n`),
  })
  .addHelpText(
    "after",
    `
Examples:
  $ mesh up                                 start a local broker (and sidecar) on this machine
  $ mesh send nova "the build is green"     durable message to nova's inbox
  $ mesh sub 'events.>'                     watch everything happening on the mesh
  $ mesh sub 'agent.nova.inbox.>' --last 5  replay the last 5 messages of nova's inbox

Environment: MESH_SERVER, MESH_CREDS, MESH_CONFIG, MESH_IDENTITY, MESH_LOG_LEVEL.`,
  );

// In the order `mesh --help` lists them.
for (const noun of [pub, sub, send, ask, peers, sidecar, skill, job, git, hooks, init, doctor, top, web, broker, identity, keys, up]) noun.register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`mesh: ${(err as Error)?.message ?? String(err)}\n`);
  process.exitCode = 1;
});
