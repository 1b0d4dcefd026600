import { bodyText, identity } from "../../subjects/mod.js";
import { ask } from "../../src/features/asks/client.js";
import { parseDuration } from "../../src/base/duration.js";
import { MeshError } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, readStdin, resolved, selfIdentity, withConnection } from "./common.js";

interface AskOptions extends GlobalOptions {
  timeout: string;
  from?: string;
  json?: boolean;
}

export async function askCmd(to: string, text: string | undefined, opts: AskOptions): Promise<number> {
  identity(to, "recipient identity");
  const timeoutMs = parseDuration(opts.timeout);
  const r = await resolved(opts);
  const from = selfIdentity(r, opts.from);
  const body = text ?? (await readStdin("question"));
  const res = await withConnection(r, (nc) => ask(nc, { from, to, text: body, timeoutMs, onRefused: (reason) => process.stderr.write(`mesh: ${reason}\n`) }));
  if (opts.json) {
    printJson({ id: res.id, seq: res.seq, status: res.reply.type, reply: res.reply.body, latencyMs: res.latencyMs });
  } else if (res.reply.type === "ok") {
    process.stdout.write(`${bodyText(res.reply)}\n`);
  } else {
    throw new MeshError(`${to} could not answer (${res.reply.type}): ${bodyText(res.reply)}`, 4);
  }
  return res.reply.type === "ok" ? 0 : 4;
}
