/** `mesh send`: a message to an identity's durable inbox. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import { identity } from "../../subjects/identity.js";
import { describeLink, linkState } from "../../src/ops/leaf-link.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, printJson, readStdin, configFor, run, selfIdentity, withConnection } from "./common.js";

export function register(program: Command): void {
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
    .action(run(send));
}

interface SendOptions extends GlobalOptions {
  from?: string;
  json?: boolean;
}

async function send(to: string, text: string | undefined, opts: SendOptions): Promise<void> {
  const { sendMessage } = await import("../../src/bus/publish.js");
  identity(to, "recipient identity");
  const r = await configFor(opts);
  const from = selfIdentity(r, opts.from);
  const body = text ?? (await readStdin());
  const leaf = r.config.leaf;
  const [res, link] = await withConnection(r, async (nc) => {
    const sent = await sendMessage(nc, { from, to, body }, { createInbox: true });
    // Leaf mode: stored in this Mac's outbox, acknowledged locally; say what waits for the hub.
    return [sent, leaf ? await linkState(nc, leaf.mac, leaf.stateDir) : undefined] as const;
  }, { seal: true });
  // A secure mesh seals the body for its recipient; one with no sealing key gets it in clear.
  if (res.clear) process.stderr.write(`mesh: warning: ${res.clear}\n`);
  if (opts.json) return printJson({ id: res.id, subject: res.subject, stream: res.stream, seq: res.seq, duplicate: res.duplicate, sealed: res.sealed === true, ...(link ? { link } : {}) });
  if (link) process.stdout.write(`queued on this Mac (${res.stream} seq ${res.seq}) for ${to}: ${res.id}; ${describeLink(link)}\n`);
  else process.stdout.write(`sent ${res.id} to ${to} (${res.stream} seq ${res.seq})\n`);
}
