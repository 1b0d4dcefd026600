import { identity } from "../../subjects/identity.js";
import { sendMessage } from "../../src/bus/publish.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, readStdin, resolved, selfIdentity, withConnection } from "./common.js";

interface SendOptions extends GlobalOptions {
  from?: string;
  json?: boolean;
}

export async function send(to: string, text: string | undefined, opts: SendOptions): Promise<void> {
  identity(to, "recipient identity");
  const r = await resolved(opts);
  const from = selfIdentity(r, opts.from);
  const body = text ?? (await readStdin());
  const res = await withConnection(r, (nc) => sendMessage(nc, { from, to, body }));
  if (opts.json) return printJson({ id: res.id, subject: res.subject, stream: res.stream, seq: res.seq, duplicate: res.duplicate });
  process.stdout.write(`sent ${res.id} to ${to} (${res.stream} seq ${res.seq})\n`);
}
