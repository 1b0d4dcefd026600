import { bodyText, identity } from "../../subjects/mod.js";
import { ask } from "../../src/features/asks/client.js";
import { parseDuration } from "../../src/base/duration.js";
import { MeshError } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, readStdin, resolved, selfIdentity, withConnection } from "./common.js";
import { describeLink, linkState } from "../../src/ops/leaf-link.js";


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
  const leaf = r.config.leaf;
  const res = await withConnection(r, async (nc) => {
    if (leaf) {
      // Leaf mode: the answer travels back live through the hub; without it an ask could only wait out its timeout.
      const link = await linkState(nc, leaf.mac, leaf.stateDir);
      if (!link.connected) {
        throw new MeshError(`${describeLink(link)}: an ask needs it for the answer, so it was not sent (\`mesh send ${to} …\` queues a message instead)`, 3);
      }
    }
    return ask(nc, { from, to, text: body, timeoutMs, onRefused: (reason) => process.stderr.write(`mesh: ${reason}\n`) });
  });
  if (opts.json) {
    printJson({ id: res.id, seq: res.seq, status: res.reply.type, reply: res.reply.body, latencyMs: res.latencyMs });
  } else if (res.reply.type === "ok") {
    process.stdout.write(`${bodyText(res.reply)}\n`);
  } else {
    throw new MeshError(`${to} could not answer (${res.reply.type}): ${bodyText(res.reply)}`, 4);
  }
  return res.reply.type === "ok" ? 0 : 4;
}
