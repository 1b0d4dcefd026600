import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { HUB_DOMAIN, STREAMS } from "../../subjects/names.js";
import { linkLine, linkState } from "./leaf-link.js";
import { bodyText, jobStates, parseEnvelope } from "../../subjects/mod.js";
import { formatDuration } from "../base/duration.js";
import { listJobs } from "../features/jobs/client.js";
import { listPeers } from "../features/presence/presence.js";

/** One frame of `mesh top`: peers, inbox depths, the job queue and the latest events. */
export async function topFrame(
  nc: NatsConnection,
  opts: { events?: number; width?: number; self?: string; leaf?: { mac: string; stateDir: string } } = {},
): Promise<string> {
  const width = opts.width ?? 100;
  const cut = (s: string): string => (s.length > width ? `${s.slice(0, width - 1)}…` : s);
  const out: string[] = [`openclaw-mesh — ${new Date().toISOString().replace("T", " ").slice(0, 19)}Z`, ""];
  if (opts.leaf) {
    // Leaf mode: the link first; peers, jobs and events are kept on the hub.
    const link = await linkState(nc, opts.leaf.mac, opts.leaf.stateDir, opts.self ? [opts.self] : []);
    out.push("LINK", cut(`  ${linkLine(opts.leaf.mac, link)}`));
    if (!link.connected) {
      out.push("", "  peers, jobs and events are kept on the hub: shown again once the link is back");
      return out.join("\n");
    }
    out.push("");
  }
  const peers = await listPeers(nc);
  out.push("PEERS");
  if (peers.length === 0) out.push("  (none yet)");
  for (const p of peers) {
    out.push(
      cut(
        `  ${p.identity.padEnd(16)} ${p.state.padEnd(8)} gateway ${(p.presence?.gateway ?? "-").padEnd(8)} inbox ${String(p.inbox?.waiting ?? 0).padStart(4)} waiting  ${
          p.ageMs !== undefined ? `seen ${formatDuration(p.ageMs)} ago` : ""
        }  ${p.presence?.capabilities.join(",") ?? ""}`,
      ),
    );
  }
  // This identity's jobs (submitted or run), or every job for the admin; by the rules every reader
  // applies. Leaf mode runs no jobs in this release (README "Offline-first Macs").
  // Jobs live on the hub (on a leaf, through its domain: the job store reaches it so).
  const jobs = await listJobs(nc, opts.self);
  const counts = Object.fromEntries(jobStates.map((s) => [s, jobs.filter((j) => j.state === s).length]));
  out.push("", `JOBS  ${jobStates.map((s) => `${s} ${counts[s]}`).join("  ")}`);
  for (const j of jobs.filter((x) => x.state === "running" || x.state === "queued").slice(-5)) {
    out.push(cut(`  ${j.id.slice(0, 8)} ${j.state.padEnd(8)} ${j.worker ?? "-"}  ${JSON.stringify(j.task)}`));
  }
  // On a leaf the events are the hub's (through its domain).
  const jsm = await jetstreamManager(nc, opts.leaf ? { domain: HUB_DOMAIN } : {});
  const si = await jsm.streams.info(STREAMS.events);
  const n = opts.events ?? 10;
  out.push("", "RECENT EVENTS");
  for (let seq = Math.max(si.state.first_seq, si.state.last_seq - n + 1); seq <= si.state.last_seq && si.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(STREAMS.events, { seq }).catch(() => null);
    if (!m) continue;
    let text: string;
    try {
      const env = parseEnvelope(m.data);
      text = `${env.from} ${env.type ?? env.kind}: ${bodyText(env)}`;
    } catch {
      text = new TextDecoder().decode(m.data);
    }
    out.push(cut(`  ${m.time.toISOString().slice(11, 19)} ${text}`));
  }
  return out.join("\n");
}
