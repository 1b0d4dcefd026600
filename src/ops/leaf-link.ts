import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { HUB_DOMAIN, HUB_TIMEOUT_MS, inboxStreamName, outboxStreamName } from "../../subjects/names.js";
import { isNotFound } from "../base/nats-errors.js";
import { safeJson } from "../base/json.js";

/**
 * Leaf mode, seen from a Mac: is its link to the hub up, and what waits to cross it. Everything here
 * is read on the Mac's own leaf server, plus one short request to the hub, so it answers at once
 * offline (never a hang).
 */
export interface LinkState {
  /** The hub answered now (through the leaf link). */
  connected: boolean;
  /** Offline: when this Mac last saw the hub (ISO), if it ever did from here. */
  lastSeen?: string;
  /** Messages stored in this Mac's outbox that the hub does not have yet (offline: since it was last seen). */
  waitingUp: number;
  /** Offline and never seen: waitingUp counts the whole outbox. */
  waitingUpUpperBound: boolean;
  /**
   * Connected: messages the hub holds for the given identities of this Mac that their local inboxes
   * have not sourced yet (the lag of each inbox's hub source). Offline: not known here (the hub holds them).
   */
  waitingDown?: number;
}


interface Seen {
  seq: number;
  at: string;
}

function seenFile(stateDir: string): string {
  return join(stateDir, "hub-seen.json");
}

function readSeen(stateDir: string): Seen | undefined {
  const p = seenFile(stateDir);
  if (!existsSync(p)) return undefined;
  const v = safeJson(readFileSync(p, "utf8")) as Partial<Seen> | undefined;
  return typeof v?.seq === "number" && typeof v.at === "string" ? { seq: v.seq, at: v.at } : undefined;
}

/** The lag of the hub source of each identity's inbox on this Mac (an identity without one here counts 0). */
async function lagDown(jsm: JetStreamManager, ids: readonly string[]): Promise<number> {
  let lag = 0;
  for (const id of ids) {
    const info = await jsm.streams.info(inboxStreamName(id)).catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
    // The hub's source has the inbox's own name (INBOX-<id> on the hub); the other is this Mac's outbox.
    for (const s of info?.sources ?? []) if (s.name === inboxStreamName(id)) lag += s.lag;
  }
  return lag;
}

/**
 * The link's state and the outbox backlog of Mac `mac` (its leaf state directory keeps when the hub
 * was last seen); with `ids`, also what the hub holds for them that has not come down yet.
 */
export async function linkState(nc: NatsConnection, mac: string, stateDir: string, ids: readonly string[] = []): Promise<LinkState> {
  const jsm = await jetstreamManager(nc);
  const local = await jsm.streams.info(outboxStreamName(mac));
  const last = local.state.last_seq;
  try {
    const hubJsm = await jetstreamManager(nc, { domain: HUB_DOMAIN, timeout: HUB_TIMEOUT_MS });
    const mirror = await hubJsm.streams.info(outboxStreamName(mac));
    const seen = { seq: mirror.state.last_seq, at: new Date().toISOString() };
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(seenFile(stateDir), JSON.stringify(seen), { mode: 0o600 });
    return { connected: true, waitingUp: Math.max(0, last - seen.seq), waitingUpUpperBound: false, ...(ids.length ? { waitingDown: await lagDown(jsm, ids) } : {}) };
  } catch {
    const seen = readSeen(stateDir);
    return { connected: false, ...(seen ? { lastSeen: seen.at } : {}), waitingUp: Math.max(0, last - (seen?.seq ?? 0)), waitingUpUpperBound: seen === undefined };
  }
}

/** One line for people: "connected; 0 waiting to reach the hub" or "offline (hub last seen …); 12 waiting for the hub". */
/** The link line every view shows (`mesh top`, `mesh doctor`, the web view): "this Mac (<mac>): …". */
export function linkLine(mac: string, s: LinkState): string {
  return `this Mac (${mac}): ${describeLink(s)}`;
}

export function describeLink(s: LinkState): string {
  if (s.connected) return `link to the hub up; ${s.waitingUp} waiting to reach the hub${s.waitingDown === undefined ? "" : `, ${s.waitingDown} on the hub waiting to come down`}`;
  return `the hub is not reachable (last seen ${s.lastSeen ?? "never from this Mac"}); ${s.waitingUpUpperBound ? "at most " : ""}${s.waitingUp} waiting on this Mac for the hub`;
}
