import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { ALL_INBOXES } from "../../../subjects/subjects.js";
import { HUB_DOMAIN, HUB_TIMEOUT_MS, inboxStreamName, outboxStreamName } from "../../../subjects/names.js";
import { OUTBOX_PER_SENDER_MESSAGES } from "../../../broker/leaf-definitions.js";
import { firstLine, isNotFound } from "../../base/nats-errors.js";
import { deleteStored, type ReplyMux } from "../../bus/reply-mux.js";
import type { Logger } from "../../base/log.js";

/**
 * Leaf mode: a Mac's outbox keeps each sender's share per recipient (discard new per lane
 * agent.<to>.inbox.<from>), so what a lane holds must be what has not been delivered yet, as in a
 * single broker's inbox. Without this, a lane would count everything sent within the outbox's
 * 14-day max_age, and a sender would be refused after its share of messages however promptly each
 * was delivered. Two removals keep it so:
 *
 * - Same-Mac mail: the recipient's sidecar, done with a message (delivered or dead-lettered),
 *   removes the origin copy it names (`removeUpstreamCopy`), as it removes its own inbox copy.
 * - Mail for another Mac: the recipient's sidecar removes the hub inbox's copy it was sourced from
 *   (`removeUpstreamCopy`), so the hub's inbox holds what its Mac has not delivered; and the
 *   sender's Mac (`trimOutbox`) removes from a lane what the hub's mirror already holds, while the
 *   hub's inbox holds less than a share of that lane. Past that, the origin keeps its copies and the
 *   sender is refused once its share there is full ("maximum messages per subject exceeded"): a
 *   recipient whose Mac is away holds at most about three shares of one sender's mail, and the
 *   inboxes downstream keep four before they drop the oldest, so nothing is dropped.
 */

/** nats-server's header on a sourced message: "<stream>[:<hash of its external API>] <seq>". */
const SOURCE_HEADER = "Nats-Stream-Source";

/** The stream (without the external API's hash) and sequence a sourced message came from. */
export function sourceOf(headers: MsgHdrs | undefined): { stream: string; external: boolean; seq: number } | undefined {
  const v = headers?.get(SOURCE_HEADER);
  const m = v ? /^([^\s:]+)(:\S+)? (\d+)/.exec(v) : null;
  return m ? { stream: m[1]!, external: m[2] !== undefined, seq: Number(m[3]) } : undefined;
}

/**
 * Removes the copy upstream of a message this sidecar is done with: the origin in this Mac's outbox
 * (same-Mac mail) or the hub inbox's copy (mail from another Mac). Best effort and not awaited by
 * delivery: a copy left behind counts against its sender's share until it ages out.
 */
export async function removeUpstreamCopy(mux: ReplyMux, o: { mac: string; self: string }, headers: MsgHdrs | undefined): Promise<void> {
  const src = sourceOf(headers);
  if (!src) return;
  try {
    if (!src.external && src.stream === outboxStreamName(o.mac)) await deleteStored(mux, src.stream, src.seq);
    else if (src.external && src.stream === inboxStreamName(o.self)) await deleteStored(mux, src.stream, src.seq, HUB_DOMAIN);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export interface TrimReport {
  /** The hub did not answer (offline): nothing was trimmed. */
  offline: boolean;
  /** Messages removed from the outbox. */
  trimmed: number;
  /** Lanes kept whole because the hub's inbox already holds a share of them. */
  held: string[];
}

/**
 * Removes from Mac `mac`'s outbox the mail for other Macs that the hub's mirror holds, lane by lane,
 * unless the recipient's inbox on the hub holds `share` or more of that lane (its Mac is away or
 * behind): then the lane is kept, and the sender's share at the origin bounds what waits.
 */
export async function trimOutbox(nc: NatsConnection, mac: string, share = OUTBOX_PER_SENDER_MESSAGES): Promise<TrimReport> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const outbox = outboxStreamName(mac);
  const local = (await jsm.streams.info(outbox, { subjects_filter: ALL_INBOXES })).state;
  const lanes = local.subjects ?? {};
  const report: TrimReport = { offline: false, trimmed: 0, held: [] };
  if (Object.keys(lanes).length === 0) return report;
  let hub: JetStreamManager;
  let onHub: number;
  try {
    hub = await jetstreamManager(nc, { domain: HUB_DOMAIN, checkAPI: false, timeout: HUB_TIMEOUT_MS });
    onHub = (await hub.streams.info(outbox)).state.last_seq;
  } catch {
    return { ...report, offline: true };
  }
  if (local.first_seq > onHub) return report;
  for (const lane of Object.keys(lanes).sort()) {
    const to = lane.split(".")[1]!;
    const inbox = await hub.streams.info(inboxStreamName(to), { subjects_filter: lane }).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    // Only a lane the hub carries: its inbox of <to> sources this Mac's mirror. Not so for an
    // identity of this Mac (same-Mac mail; its sidecar removes it) or one the hub does not know.
    if (!inbox?.config.sources?.some((s) => s.name === outbox)) continue;
    const waiting = inbox.state.subjects?.[lane] ?? 0;
    if (waiting >= share) {
      report.held.push(lane);
      continue;
    }
    report.trimmed += (await jsm.streams.purge(outbox, { filter: lane, seq: onHub + 1 })).purged;
  }
  return report;
}

/** Runs trimOutbox every `everyMs` on a leaf-mode sidecar; a failed round is logged and the next one tries again. */
export class OutboxTrimmer {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private warned = false;

  constructor(private readonly opts: { nc: NatsConnection; mac: string; log: Logger; everyMs?: number; share?: number }) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.round().finally(() => (this.running = undefined));
    }, this.opts.everyMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async round(): Promise<void> {
    try {
      const r = await trimOutbox(this.opts.nc, this.opts.mac, this.opts.share);
      if (r.trimmed > 0 || r.held.length > 0) this.opts.log.debug({ mac: this.opts.mac, ...r }, "outbox trimmed");
      this.warned = false;
    } catch (err) {
      if (!this.warned) this.opts.log.warn({ mac: this.opts.mac, err: firstLine(err) }, "outbox not trimmed (tried again every second)");
      this.warned = true;
    }
  }
}
