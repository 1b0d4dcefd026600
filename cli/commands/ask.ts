/** `mesh ask`: a question to an identity's agent, and its reply. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import { identity } from "../../subjects/identity.js";
import { parseDuration } from "../../src/base/duration.js";
import { MeshError } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, printJson, readStdin, configFor, run, selfIdentity, withConnection } from "./common.js";

export function register(program: Command): void {
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
    .action(run(askCmd));
}

interface AskOptions extends GlobalOptions {
  timeout: string;
  from?: string;
  json?: boolean;
}

async function askCmd(to: string, text: string | undefined, opts: AskOptions): Promise<number> {
  const [{ bodyText }, { ask }] = await Promise.all([import("../../subjects/mod.js"), import("../../src/features/asks/client.js")]);
  identity(to, "recipient identity");
  const timeoutMs = parseDuration(opts.timeout);
  const r = await configFor(opts);
  const from = selfIdentity(r, opts.from);
  const body = text ?? (await readStdin("question"));
  // Leaf mode: the answer travels back live through the hub; without it an ask could only wait out its timeout.
  const needsHub = `an ask needs it for the answer, so it was not sent (\`mesh send ${to} …\` queues a message instead)`;
  const res = await withConnection(r, (nc) => ask(nc, { from, to, text: body, timeoutMs, onRefused: (reason) => process.stderr.write(`mesh: ${reason}\n`), createInbox: true }), { seal: true, needsHub });
  if (opts.json) {
    printJson({ id: res.id, seq: res.seq, status: res.reply.type, reply: res.reply.body, latencyMs: res.latencyMs });
  } else if (res.reply.type === "ok") {
    process.stdout.write(`${bodyText(res.reply)}\n`);
  } else {
    throw new MeshError(`${to} could not answer (${res.reply.type}): ${bodyText(res.reply)}`, 4);
  }
  return res.reply.type === "ok" ? 0 : 4;
}
