import { identity } from "../../subjects/identity.js";
import { sendMessage } from "../../src/bus/publish.js";
import { describeLink, linkState } from "../../src/ops/leaf-link.js";
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
  const leaf = r.config.leaf;
  const [res, link] = await withConnection(r, async (nc) => {
    const sent = await sendMessage(nc, { from, to, body });
    // Leaf mode: stored in this Mac's outbox, acknowledged locally; say what waits for the hub.
    return [sent, leaf ? await linkState(nc, leaf.mac, leaf.stateDir) : undefined] as const;
  });
  if (opts.json) return printJson({ id: res.id, subject: res.subject, stream: res.stream, seq: res.seq, duplicate: res.duplicate, ...(link ? { link } : {}) });
  if (link) process.stdout.write(`queued on this Mac (${res.stream} seq ${res.seq}) for ${to}: ${res.id}; ${describeLink(link)}\n`);
  else process.stdout.write(`sent ${res.id} to ${to} (${res.stream} seq ${res.seq})\n`);
}
