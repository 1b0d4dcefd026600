/** `mesh sub`: print messages on a subject pattern. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import type { NatsConnection } from "@nats-io/nats-core";
import type { MeshVerifier } from "../../src/bus/verify.js";
import { parseDuration } from "../../src/base/duration.js";
import type { SeenMessage } from "../../src/bus/subscribe.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, parseCount, printJson, configFor, run, withConnection } from "./common.js";

export function register(program: Command): void {
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
    .action(run(sub));
}

interface SubOptions extends GlobalOptions {
  last?: number;
  since?: string;
  count?: number;
  json?: boolean;
}

function human(m: SeenMessage, bodyText: (e: NonNullable<SeenMessage["envelope"]>) => string, unverified?: string): string {
  const t = m.time.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  const seq = m.seq !== undefined ? ` #${m.seq}` : "";
  if (m.envelope) {
    const e = m.envelope;
    const what = e.kind === "event" ? `${e.type ?? "event"}` : `${e.kind} ${e.from} → ${e.to}`;
    const text = bodyText(e);
    const mark = unverified ? `  ⚠ unverified (${unverified})` : "";
    return `[${t}${seq}] ${m.subject}  ${what}: ${text.length > 500 ? `${text.slice(0, 500)}…` : text}${mark}`;
  }
  return `[${t}${seq}] ${m.subject}  ${new TextDecoder().decode(m.data)}`;
}

/** Loaded only when the pattern touches events (the KV client is not needed otherwise). */
async function openVerifier(nc: NatsConnection): Promise<MeshVerifier> {
  const [{ MeshVerifier }, { createLogger }] = await Promise.all([import("../../src/bus/verify.js"), import("../../src/base/log.js")]);
  return MeshVerifier.open(nc, createLogger({ name: "mesh-sub", level: "silent" }));
}

async function sub(typed: string, opts: SubOptions): Promise<void> {
  const [{ ALL_EVENTS, bodyText, checkSubject }, { overlaps, subscribe }] = await Promise.all([import("../../subjects/mod.js"), import("../../src/bus/subscribe.js")]);
  checkSubject(typed, { wildcards: true });
  // An inbox is one lane per sender: `agent.nova.inbox` means all of them.
  const parts = typed.split(".");
  const pattern = parts.length === 3 && parts[0] === "agent" && parts[2] === "inbox" ? `${typed}.*` : typed;
  const sinceMs = opts.since !== undefined ? parseDuration(opts.since) : undefined;
  const r = await configFor(opts);
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const { openSealed } = await import("../../src/bus/sealer.js");
  const openable = (nc: NatsConnection, e: NonNullable<SeenMessage["envelope"]>) => {
    const o = openSealed(nc, e);
    return o.ok ? o.env : e;
  };
  await withConnection(
    r,
    async (nc) => {
    // Events are checked as hook rules check them (sender = subject identity, signature, freshness)
    // and an unverified one is marked; printing keeps the order they arrived in.
    const verifier = overlaps(pattern, ALL_EVENTS) ? await openVerifier(nc) : undefined;
    let printed = Promise.resolve();
    const print = async (m: SeenMessage): Promise<void> => {
      // A sealed body this identity can read (it holds the key here) is shown opened.
      const e = m.envelope?.sealed ? openable(nc, m.envelope) : m.envelope;
      const verdict = verifier && e?.kind === "event" && m.subject.startsWith("events.") ? await verifier.verify(m.envelope!, { subject: m.subject, subjectNames: "from", at: m.time }) : undefined;
      const unverified = verdict && !verdict.ok ? verdict.reason : undefined;
      if (opts.json) {
        printJson({
          subject: m.subject,
          stream: m.stream,
          seq: m.seq,
          time: m.time.toISOString(),
          ...(e ? { envelope: e } : { data: new TextDecoder().decode(m.data) }),
          ...(unverified ? { unverified } : {}),
        });
      } else process.stdout.write(`${human(m, bodyText, unverified)}\n`);
    };
    await subscribe(
      nc,
      pattern,
      {
        ...(r.identity ? { self: r.identity } : {}),
        ...(opts.last !== undefined ? { last: opts.last } : {}),
        ...(sinceMs !== undefined ? { sinceMs } : {}),
        ...(opts.count !== undefined ? { count: opts.count } : {}),
        signal: ac.signal,
      },
      (m) => {
        printed = printed.then(() => print(m));
      },
    );
    await printed;
    },
    { seal: true },
  );
}
