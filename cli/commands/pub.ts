/** `mesh pub`: publish to a subject. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import type { Envelope } from "../../subjects/mod.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, printJson, readStdin, configFor, run, selfIdentity, withConnection } from "./common.js";

export function register(program: Command): void {
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
    .action(run(pub));
}

interface PubOptions extends GlobalOptions {
  raw?: boolean;
  json?: boolean;
}

/**
 * An inbox is published into on the sender's own lane: `agent.nova.inbox` means
 * agent.nova.inbox.<self> (the only lane a secure mesh lets this identity publish on).
 */
async function laneOf(subject: string, from: string): Promise<string> {
  const { identity, inboxSubject } = await import("../../subjects/mod.js");
  const parts = subject.split(".");
  return parts[0] === "agent" && parts[2] === "inbox" && parts.length === 3 ? inboxSubject(identity(parts[1] ?? ""), from) : subject;
}

/** Wraps text in an envelope when the subject is an inbox lane or an event subject. */
async function wrap(subject: string, text: string, from: string): Promise<Envelope | undefined> {
  const { identity, newEnvelope, parseEnvelope } = await import("../../subjects/mod.js");
  const parts = subject.split(".");
  try {
    return parseEnvelope(text);
  } catch {
    /* plain text: wrap below */
  }
  if (parts[0] === "agent" && parts[2] === "inbox" && parts.length === 4) {
    return newEnvelope({ from, to: identity(parts[1] ?? ""), kind: "message", body: text });
  }
  if (parts[0] === "events" && parts.length >= 3) {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* keep text */
    }
    return newEnvelope({ from, to: "*", kind: "event", type: parts.slice(2).join("."), body });
  }
  return undefined;
}

async function pub(subject: string, text: string | undefined, opts: PubOptions): Promise<void> {
  const [{ checkSubject }, { publishEnvelope, publishRaw }] = await Promise.all([import("../../subjects/mod.js"), import("../../src/bus/publish.js")]);
  checkSubject(subject, { wildcards: false });
  const r = await configFor(opts);
  const body = text ?? (await readStdin());
  const self = selfIdentity(r);
  subject = await laneOf(subject, self);
  const env = opts.raw ? undefined : await wrap(subject, body, self);
  const result = await withConnection(r, (nc) =>
    env ? publishEnvelope(nc, subject, env) : publishRaw(nc, subject, new TextEncoder().encode(body)),
  );
  if (opts.json) return printJson(result);
  const where = result.stream ? ` (${result.stream} seq ${result.seq}${result.duplicate ? ", duplicate" : ""})` : "";
  process.stdout.write(`published to ${subject}${result.id ? ` id ${result.id}` : ""}${where}\n`);
}
