import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { HUB_DOMAIN, outboxStreamName } from "../../subjects/names.js";
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
}

const HUB_TIMEOUT_MS = 1500;

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

/** The link's state and the outbox backlog of Mac `mac` (its leaf state directory keeps when the hub was last seen). */
export async function linkState(nc: NatsConnection, mac: string, stateDir: string): Promise<LinkState> {
  const local = await (await jetstreamManager(nc)).streams.info(outboxStreamName(mac));
  const last = local.state.last_seq;
  try {
    const hubJsm = await jetstreamManager(nc, { domain: HUB_DOMAIN, timeout: HUB_TIMEOUT_MS });
    const mirror = await hubJsm.streams.info(outboxStreamName(mac));
    const seen = { seq: mirror.state.last_seq, at: new Date().toISOString() };
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(seenFile(stateDir), JSON.stringify(seen), { mode: 0o600 });
    return { connected: true, waitingUp: Math.max(0, last - seen.seq), waitingUpUpperBound: false };
  } catch {
    const seen = readSeen(stateDir);
    return { connected: false, ...(seen ? { lastSeen: seen.at } : {}), waitingUp: Math.max(0, last - (seen?.seq ?? 0)), waitingUpUpperBound: seen === undefined };
  }
}

/** One line for people: "connected; 0 waiting to reach the hub" or "offline (hub last seen …); 12 waiting for the hub". */
export function describeLink(s: LinkState): string {
  if (s.connected) return `link to the hub up; ${s.waitingUp} waiting to reach the hub`;
  return `the hub is not reachable (last seen ${s.lastSeen ?? "never from this Mac"}); ${s.waitingUpUpperBound ? "at most " : ""}${s.waitingUp} waiting on this Mac for the hub`;
}
