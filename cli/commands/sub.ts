import type { NatsConnection } from "@nats-io/nats-core";
import { ALL_EVENTS, bodyText, checkSubject } from "../../subjects/mod.js";
import type { MeshVerifier } from "../../src/bus/verify.js";
import { parseDuration } from "../../src/base/duration.js";
import { overlaps, subscribe, type SeenMessage } from "../../src/bus/subscribe.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { printJson, resolved, withConnection } from "./common.js";

interface SubOptions extends GlobalOptions {
  last?: number;
  since?: string;
  count?: number;
  json?: boolean;
}

function human(m: SeenMessage, unverified?: string): string {
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

export async function sub(typed: string, opts: SubOptions): Promise<void> {
  checkSubject(typed, { wildcards: true });
  // An inbox is one lane per sender: `agent.nova.inbox` means all of them.
  const parts = typed.split(".");
  const pattern = parts.length === 3 && parts[0] === "agent" && parts[2] === "inbox" ? `${typed}.*` : typed;
  const sinceMs = opts.since !== undefined ? parseDuration(opts.since) : undefined;
  const r = await resolved(opts);
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  await withConnection(r, async (nc) => {
    // Events are checked as hook rules check them (sender = subject identity, signature, freshness)
    // and an unverified one is marked; printing keeps the order they arrived in.
    const verifier = overlaps(pattern, ALL_EVENTS) ? await openVerifier(nc) : undefined;
    let printed = Promise.resolve();
    const print = async (m: SeenMessage): Promise<void> => {
      const e = m.envelope;
      const verdict = verifier && e?.kind === "event" && m.subject.startsWith("events.") ? await verifier.verify(e, { subject: m.subject, subjectNames: "from", at: m.time }) : undefined;
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
      } else process.stdout.write(`${human(m, unverified)}\n`);
    };
    await subscribe(
      nc,
      pattern,
      {
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
  });
}
