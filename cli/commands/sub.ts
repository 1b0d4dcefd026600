import { bodyText, checkSubject } from "../../subjects/mod.js";
import { parseDuration } from "../../src/base/duration.js";
import { subscribe, type SeenMessage } from "../../src/bus/subscribe.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, resolved, withConnection } from "./common.js";

interface SubOptions extends GlobalOptions {
  last?: number;
  since?: string;
  count?: number;
  json?: boolean;
}

function human(m: SeenMessage): string {
  const t = m.time.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  const seq = m.seq !== undefined ? ` #${m.seq}` : "";
  if (m.envelope) {
    const e = m.envelope;
    const what = e.kind === "event" ? `${e.type ?? "event"}` : `${e.kind} ${e.from} → ${e.to}`;
    const text = bodyText(e);
    return `[${t}${seq}] ${m.subject}  ${what}: ${text.length > 500 ? `${text.slice(0, 500)}…` : text}`;
  }
  return `[${t}${seq}] ${m.subject}  ${new TextDecoder().decode(m.data)}`;
}

export async function sub(pattern: string, opts: SubOptions): Promise<void> {
  checkSubject(pattern, { wildcards: true });
  const sinceMs = opts.since !== undefined ? parseDuration(opts.since) : undefined;
  const r = await resolved(opts);
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await withConnection(r, (nc) =>
    subscribe(
      nc,
      pattern,
      {
        ...(opts.last !== undefined ? { last: opts.last } : {}),
        ...(sinceMs !== undefined ? { sinceMs } : {}),
        ...(opts.count !== undefined ? { count: opts.count } : {}),
        signal: ac.signal,
      },
      (m) => {
        if (opts.json) {
          printJson({
            subject: m.subject,
            stream: m.stream,
            seq: m.seq,
            time: m.time.toISOString(),
            ...(m.envelope ? { envelope: m.envelope } : { data: new TextDecoder().decode(m.data) }),
          });
        } else process.stdout.write(`${human(m)}\n`);
      },
    ),
  );
}
