#!/usr/bin/env node
/**
 * The `mesh` command. This file only declares commands and their help; each action loads its
 * module on demand (cold start stays small) and every error leaves as one line + exit code.
 */
import { Command, InvalidArgumentError as InvalidArg, Option, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { VERSION } from "../src/base/version.js";
import { DEFAULT_WEB_PORT } from "../src/ops/web/defaults.js";

const program = new Command();

/**
 * Wraps a lazily-loaded action: merges the global options into the command's own, prints one-line
 * errors, sets the exit code. Typed end to end (@commander-js/extra-typings): `A` is inferred from
 * the loaded function, and `.action()` accepts the wrapper only when every positional argument and
 * flag the command declares is assignable to that function's parameters.
 */
/** `--json` on every command whose output a program may read (natscli's shared flag). */
function jsonFlag(what: string): Option {
  return new Option("--json", what);
}

function run<A extends unknown[]>(load: () => Promise<(...args: A) => Promise<number | void>>) {
  return async (...args: [...A, CommandUnknownOpts]): Promise<void> => {
    const cmd = args[args.length - 1] as CommandUnknownOpts;
    const positional = args.slice(0, -2);
    try {
      const action = await load();
      // optsWithGlobals(): this command's options and every parent's (the global --server, --creds, …).
      const code = await action(...([...positional, cmd.optsWithGlobals()] as unknown as A));
      if (typeof code === "number") process.exitCode = code;
    } catch (err) {
      const { oneLine, MeshError } = await import("../src/base/errors.js");
      process.stderr.write(`mesh: ${oneLine(err)}\n`);
      if (process.env.MESH_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = err instanceof MeshError ? err.exitCode : 1;
    }
  };
}

program
  .name("mesh")
  .description("openclaw-mesh: connect OpenClaw gateways on several machines through a NATS JetStream bus")
  .version(VERSION)
  .addOption(new Option("-s, --server <url>", "broker URL(s), comma-separated").env("MESH_SERVER"))
  .addOption(new Option("--creds <file>", "NATS credentials file of this identity").env("MESH_CREDS"))
  .addOption(new Option("-c, --config <file>", "config file (default ~/.config/openclaw-mesh/config.json)").env("MESH_CONFIG"))
  .addOption(new Option("-i, --identity <name>", "this machine's identity").env("MESH_IDENTITY"))
  .addOption(new Option("--context <name>", "a natscli context (~/.config/nats/context/<name>.json): its url, creds, nkey, user/password, token, TLS files").env("MESH_CONTEXT"))
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

program
  .command("pub")
  .description("publish a message to a subject (text argument or stdin)")
  .argument("<subject>", "subject, e.g. agent.nova.inbox (your lane of nova's inbox) or events.clawd.note")
  .argument("[text]", "message text; read from stdin when omitted")
  .option("--raw", "publish the bytes as they are, without wrapping them in a mesh envelope")
  .addOption(jsonFlag("print the result as JSON"))
  .addHelpText(
    "after",
    `
On mesh subjects (agent.<id>.inbox, published on your own lane agent.<id>.inbox.<you>; events.<id>.…) text is wrapped in a v1 envelope from this
identity, so sidecars accept it; text that already is an envelope is sent unchanged.

Examples:
  $ mesh pub agent.nova.inbox "hello from the CLI"
  $ echo '{"ok":true}' | mesh pub events.clawd.note
  $ mesh pub --raw scratch.test "bytes as they are"`,
  )
  .action(run(async () => (await import("./commands/pub.js")).pub));

program
  .command("sub")
  .description("print messages on a subject pattern, live or replayed from JetStream")
  .argument("<pattern>", "subject pattern, e.g. 'events.>' or 'agent.nova.inbox.>'")
  .option("--last <n>", "replay the last N stored messages first", (v) => parseCount(v))
  .option("--since <duration>", "replay what was stored in the last duration (30s, 5m, 2h, 1d)")
  .option("--count <n>", "exit after N messages", (v) => parseCount(v))
  .addOption(jsonFlag("one JSON object per line"))
  .addHelpText(
    "after",
    `
Examples:
  $ mesh sub 'events.>'                      everything live
  $ mesh sub 'events.nova.>' --since 1h      nova's last hour, then live
  $ mesh sub 'agent.nova.inbox.>' --last 1 --count 1 --json`,
  )
  .action(run(async () => (await import("./commands/sub.js")).sub));

program
  .command("send")
  .description("send a text message to an identity's durable inbox")
  .argument("<identity>", "recipient identity, e.g. nova")
  .argument("[text]", "message text; read from stdin when omitted")
  .option("--from <identity>", "sender identity (default: this machine's identity)")
  .addOption(jsonFlag("print the result as JSON"))
  .addHelpText(
    "after",
    `
The message waits in the broker until nova's sidecar takes it, even if that Mac is asleep.
Prints the message id and its stream sequence.

Examples:
  $ mesh send nova "can you run the nightly build?"
  $ git log -1 | mesh send nova`,
  )
  .action(run(async () => (await import("./commands/send.js")).send));

program
  .command("ask")
  .description("ask an identity's agent something and print its reply")
  .argument("<identity>", "who to ask, e.g. nova")
  .argument("[text]", "the question; read from stdin when omitted")
  .option("--timeout <duration>", "how long to wait for the answer", "5m")
  .option("--from <identity>", "sender identity (default: this machine's identity)")
  .addOption(jsonFlag("print id, status, reply and latency as JSON"))
  .addHelpText(
    "after",
    `
The question goes to nova's durable inbox; nova's sidecar hands it to its gateway and, when the
agent's run completes, sends the final reply back here.
Exit codes: 0 answered, 3 no answer in time (the question still waits in nova's inbox), 4 nova failed.

Examples:
  $ mesh ask nova "what is the p99 in the last benchmark run?"
  $ mesh ask nova --timeout 30s "are you there?"`,
  )
  .action(run(async () => (await import("./commands/ask.js")).askCmd));

program
  .command("peers")
  .description("list every identity on the mesh as online / stale / offline")
  .addOption(jsonFlag("print as JSON"))
  .action(run(async () => (await import("./commands/peers.js")).peers));

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
  .action(run(async () => (await import("./commands/sidecar.js")).sidecar));

program
  .command("skill")
  .description("the OpenClaw skill that teaches agents to use the mesh")
  .command("install")
  .description("copy SKILL.md into the gateway workspace (skills/mesh/SKILL.md)")
  .option("--workspace <dir>", "agent workspace (default ~/.openclaw/workspace)")
  .option("--dry-run", "show what would change")
  .action(run(async () => (await import("./commands/skill.js")).skillInstall));

const job = program.command("job").description("broadcast work to whichever machine is free");

job
  .command("submit")
  .description("queue a task; a free worker with the needed capabilities runs it as an agent turn")
  .argument("[task]", "what to do; read from stdin when omitted")
  .option("-q, --queue <name>", "queue", "default")
  .option("-n, --needs <capability...>", "capabilities the worker must have (e.g. gpu build)")
  .option("-w, --wait", "wait and print the result")
  .option("--timeout <duration>", "how long the run (and --wait) may take", "30m")
  .option("--attempts <n>", "runs before the job is dead-lettered", (v) => parseCount(v), 3)
  .addOption(jsonFlag("print the job record as JSON"))
  .option("--repo <name>", "a shared repo of the config (repos): the worker checks out --at in a worktree first")
  .option("--at <sha|branch>", "the commit of --repo (a branch is read as the remote's); the job carries its full SHA")
  .addHelpText(
    "after",
    `
Prints the job id (or, with --wait, the result). Exit 3: not finished in time; 4: failed or cancelled.

Examples:
  $ mesh job submit "summarize today's build logs" --wait
  $ mesh job submit --needs gpu "render the charts" --timeout 2h
  $ mesh job submit --repo cackles --at main "run the test suite" --wait`,
  )
  .action(run(async () => (await import("./commands/job.js")).submit));

job
  .command("status")
  .description("one job: state, worker, attempts, result or why it waits")
  .argument("<id>", "job id")
  .addOption(jsonFlag("print as JSON"))
  .action(run(async () => (await import("./commands/job.js")).status));

job
  .command("list")
  .description("all jobs: queued / running / done / failed / cancelled, with the machine that ran each")
  .option("--state <state>", "only jobs in this state")
  .addOption(jsonFlag("print as JSON"))
  .action(run(async () => (await import("./commands/job.js")).list));

job
  .command("cancel")
  .description("cancel a queued job, or ask the worker of a running one to stop")
  .argument("<id>", "job id")
  .action(run(async () => (await import("./commands/job.js")).cancel));

const gitCmd = program.command("git").description("shared repos: pushes become mesh events, clones follow");
const gitHook = gitCmd.command("hook").description("the git hooks that announce this clone's pushes");

gitHook
  .command("install")
  .description("install the push hooks in a clone (pre-push + reference-transaction); a hook of yours is chained")
  .argument("[path]", "the clone (default: the current directory)")
  .addHelpText(
    "after",
    `
A push that succeeded publishes events.<identity>.git.pushed {remote, refs}; a push is never
blocked or failed by the mesh (a down broker is one line on stderr).

Example:
  $ mesh git hook install ~/code/cackles`,
  )
  .action(run(async () => (await import("./commands/git.js")).hookInstall));

gitHook
  .command("uninstall")
  .description("remove the push hooks and put back the hooks they chained")
  .argument("[path]", "the clone (default: the current directory)")
  .action(run(async () => (await import("./commands/git.js")).hookUninstall));

gitHook
  .command("run", { hidden: true })
  .description("run by the installed hooks")
  .argument("<hook>", "pre-push or reference-transaction")
  .argument("[args...]", "the hook's arguments")
  .action(run(async () => (await import("./commands/git.js")).hookRun));

const hooks = program.command("hooks").description("fan-out rules: react to events anywhere on the mesh");

hooks
  .command("list")
  .description("the rules in the config and how far behind each one is (lag)")
  .addOption(jsonFlag("print as JSON"))
  .action(run(async () => (await import("./commands/hooks.js")).list));

hooks
  .command("test")
  .description("fire one rule's action now with a sample event matching its filter")
  .argument("<rule>", "rule name")
  .action(run(async () => (await import("./commands/hooks.js")).test));

program
  .command("init")
  .description("set up this machine: config, broker and gateway checks, skill, tailscale, service")
  .option("--server <url>", "the broker (e.g. nats://100.101.102.103:4222)")
  .option("--peer <address>", "a peer Mac's gateway address (http://100.x.x.x:18789): the broker on that host (nats://100.x.x.x:4222)")
  .option("--alert <recipient>", "where peer-down alerts go (e.g. +15166334684 over iMessage)")
  .option("--capabilities <list>", "comma-separated capabilities of this machine (gpu,build)")
  .option("--tailscale-key <key>", "run `tailscale up --authkey … --hostname openclaw-<identity>` first")
  .option("--gateway <url>", "the local OpenClaw gateway", "http://127.0.0.1:18789")
  .option("--configure-gateway", "enable the gateway's hooks and A2A channel for the mesh (backup of openclaw.json first)")
  .option("--nats-context <name>", "also write a natscli context with this broker and credential (nats --context <name>)")
  .option("--a2a-host <host>", "also serve the sidecar's A2A server on this address (a tailnet IP), for A2A clients on other machines (opt-in; they need a token from sidecar.a2aClients)")
  .option("--a2a-port <port>", "port of that A2A listener (default 9470)", (v) => parsePort(v))
  .option("--no-start", "install the service file but do not start it")
  .option("--platform <os>", "darwin (launchd) or linux (systemd); default this machine's")
  .option("--dry-run", "print every step without doing it")
  .addOption(jsonFlag("print the steps as JSON"))
  .addHelpText(
    "after",
    `
Safe to run again: what is already right is left alone (=). Global --identity, --creds and
--config apply.

Example (a new Mac):
  $ mesh init --identity nova --server nats://100.101.102.103:4222 --capabilities gpu,build \\
      --alert +15166334684 --configure-gateway --tailscale-key tskey-auth-…`,
  )
  .action(run(async () => (await import("./commands/init.js")).initCmd));

program
  .command("doctor")
  .description("check this machine's mesh setup; a one-line fix for each problem")
  .addOption(jsonFlag("print the checks as JSON"))
  .option("--format <format>", "text (default), or for monitoring as `nats server check` does: nagios, json, prometheus")
  .option("--platform <os>", "check the service as on darwin (launchd) or linux (systemd); default this machine's")
  .addHelpText(
    "after",
    `
Exit code 1 when any check fails. With --format nagios|json|prometheus the exit codes are nats server
check's: 0 OK, 2 CRITICAL (a check failed), 3 UNKNOWN (doctor could not run).

Examples:
  $ mesh doctor
  $ mesh doctor --format nagios        # CRITICAL mesh doctor: broker reachable: … | ok=9 critical=1 skipped=2
  $ mesh doctor --format prometheus > /var/lib/node_exporter/textfile/mesh.prom`,
  )
  .action(run(async () => (await import("./commands/doctor.js")).doctorCmd));

program
  .command("top")
  .description("a live view: peers, inbox depths, the job queue, recent events")
  .option("--once", "print one frame and exit")
  .option("--interval <ms>", "refresh interval", "2000")
  .action(run(async () => (await import("./commands/top.js")).top));

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
  $ mesh web                                          http://127.0.0.1:9470/
  $ mesh web --host "$(tailscale ip -4)"              on the tailnet, with a generated token`,
  )
  .action(run(async () => (await import("./commands/web.js")).web));

const broker = program.command("broker").description("run and manage the NATS broker");

broker
  .command("up")
  .description("run nats-server with JetStream as a child process (state in a directory), provisioned")
  .option("--state-dir <dir>", "state directory (default ~/.config/openclaw-mesh/broker)")
  .option("--host <host>", "address to listen on (0.0.0.0 or the tailnet IP to serve other machines)", "127.0.0.1")
  .option("--port <port>", "client port", (v) => parsePort(v), 4222)
  .option("--monitor-port <port>", "monitoring (HTTP) port", (v) => parsePort(v), 8222)
  .option("--monitor-host <host>", "address of the monitoring port (unauthenticated: keep it on loopback unless you need it elsewhere)", "127.0.0.1")
  .option("--detach", "run in the background (pid in the state directory)")
  .option("--no-provision", "do not create streams and buckets")
  .addHelpText(
    "after",
    `
Examples:
  $ mesh broker up                                 loopback only, foreground (Ctrl-C stops it)
  $ mesh broker up --host 100.101.102.103 --detach serve the tailnet from this Mac (monitoring stays on 127.0.0.1)`,
  )
  .action(run(async () => (await import("./commands/broker.js")).up));

broker
  .command("provision")
  .description("create or update the mesh streams, buckets and inbox consumers (idempotent)")
  .option("--replicas <n>", "stream replicas (3 on a 3-node cluster)", (v) => parseCount(v), 1)
  .option("--for <identities>", "also create these identities' inbox, dead-letter and hook streams (comma-separated)")
  .option("--drop-legacy", "delete the shared INBOX and DLQ streams of an earlier version (after their messages were delivered)")
  .addOption(jsonFlag("print the report as JSON"))
  .action(run(async () => (await import("./commands/broker.js")).provisionCmd));

broker
  .command("status")
  .description("show the broker, its streams and the inbox consumers")
  .addOption(jsonFlag("print as JSON"))
  .action(run(async () => (await import("./commands/broker.js")).status));

broker
  .command("init")
  .description("require credentials: an admin key and a registry of identities (no anonymous clients)")
  .option("--state-dir <dir>", "broker state directory (default ~/.config/openclaw-mesh/broker)")
  .option("--tls", "also make a CA and a server certificate and serve TLS")
  .option("--host <names...>", "names/IPs for the server certificate (default 127.0.0.1 localhost)")
  .addHelpText("after", "\nA running broker (mesh broker up) reloads at once; anonymous clients are refused from then on.")
  .action(run(async () => (await import("./commands/broker-auth.js")).init));

broker
  .command("add-identity")
  .description("issue an identity its own credential (an nkey) with least-privilege permissions")
  .argument("<identity>", "e.g. nova")
  .option("--state-dir <dir>", "broker state directory")
  .option("--out <file>", "where to write the credential (default <state-dir>/creds/<identity>.nk)")
  .option("--capabilities <list>", "comma-separated capabilities it may serve jobs for (e.g. gpu,xcode; default none)")
  .option("--queues <list>", "comma-separated job queues it may serve (default: default)")
  .option("--alerts", "may hold the peer-alert lease and record peer up/down transitions")
  .addHelpText(
    "after",
    "\nNo broker downtime: the running broker reloads its configuration. Run it again with other\n" +
      "grants to change them (same key). Example:\n  mesh broker add-identity nova --capabilities gpu,xcode --alerts",
  )
  .action(run(async () => (await import("./commands/broker-auth.js")).addIdentityCmd));

broker
  .command("revoke")
  .description("remove an identity's credential; the broker refuses it at once")
  .argument("<identity>", "e.g. nova")
  .option("--state-dir <dir>", "broker state directory")
  .action(run(async () => (await import("./commands/broker-auth.js")).revokeCmd));

program
  .command("up")
  .description("run the mesh on this machine: a local broker if none is reachable, provisioned")
  .option("--broker-state-dir <dir>", "the embedded broker's state directory (default ~/.config/openclaw-mesh/broker)")
  .addOption(new Option("--state-dir <dir>", "the same as --broker-state-dir (earlier spelling)").hideHelp())
  .option("--no-web", "do not start the web view (mesh web)")
  .option("--web-port <port>", "port of the web view on 127.0.0.1", (v) => parsePort(v), DEFAULT_WEB_PORT)
  .addHelpText(
    "after",
    `
Uses --server / MESH_SERVER / the config file when a broker answers there; otherwise starts an
embedded nats-server on 127.0.0.1:4222. Ctrl-C stops what it started.`,
  )
  .action(run(async () => (await import("./commands/up.js")).up));

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArg(`expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArg(`expected a port (1-65535), got ${JSON.stringify(v)}`);
  return n;
}


program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`mesh: ${(err as Error)?.message ?? String(err)}\n`);
  process.exitCode = 1;
});
