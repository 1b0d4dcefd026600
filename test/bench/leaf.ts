/**
 * 7. Leaf mode: the two-hop path (Mac → its leaf → hub → the other Mac's leaf → sidecar) beside the
 * direct path (one broker → sidecar) in one run, p50/p99 at 100/s; then the backlog drain after a cut
 * of the receiving Mac's link (60 s; 5 s with --quick).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { createLogger } from "../../src/base/log.js";
import { openclawHooksAgent } from "../../src/agent/openclaw-hooks/adapter.js";
import { Sidecar } from "../../src/sidecar/sidecar.js";
import { encodeEnvelope, inboxSubject, newEnvelope } from "../../subjects/mod.js";
import { HUB_DOMAIN } from "../../subjects/names.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { startLeafMesh } from "../support/leaf-mesh.js";
import { OUTBOX_PER_SENDER_MESSAGES } from "../../broker/leaf-definitions.js";
import { summarize } from "./stats.js";
import type { BenchContext } from "./scenarios.js";
import { startBenchBroker } from "./bench-broker.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LeafRow {
  path: string;
  rate: string;
  sent: number;
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

async function sidecarOn(server: string, identity: string, hooks: HooksEndpoint, leaf?: { mac: string }): Promise<Sidecar> {
  const s = new Sidecar({
    identity,
    server,
    agent: openclawHooksAgent({ endpoint: { url: hooks.url, hooksPath: "/hooks", hooksToken: hooks.token } }),
    stateDir: mkdtempSync(join(tmpdir(), `mesh-bench-${identity}-`)),
    log: createLogger({ name: "bench", level: "silent" }),
    jobs: false,
    presenceIntervalMs: 5000,
    ...(leaf ? { leaf: { mac: leaf.mac, hubDomain: HUB_DOMAIN } } : {}),
  });
  await s.start();
  return s;
}

/** Publishes n messages at rate/s from `from` to `to`, each key's publish time noted; arrivals timed by the hooks endpoint. */
async function timedRun(nc: NatsConnection, hooks: HooksEndpoint, o: { from: string; to: string; n: number; rate: number; tag: string }): Promise<{ lat: number[]; sentAt: Map<string, number> }> {
  const js = jetstream(nc);
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  hooks.onHook = (h) => {
    const m = /#(\S+)#/.exec(h.body.message ?? "");
    const t0 = m ? sentAt.get(m[1]!) : undefined;
    if (t0 !== undefined) lat.push(performance.now() - t0);
  };
  const start = performance.now();
  for (let i = 0; i < o.n; i++) {
    const wait = start + (i * 1000) / o.rate - performance.now();
    if (wait > 1) await sleep(wait);
    const key = `${o.tag}-${i}`;
    const env = newEnvelope({ from: o.from, to: o.to, kind: "message", body: `#${key}# bench` });
    sentAt.set(key, performance.now());
    await js.publish(inboxSubject(o.to, o.from), encodeEnvelope(env), { msgID: env.id });
  }
  return { lat, sentAt };
}

export async function leafPaths(ctx: BenchContext): Promise<{ rows: LeafRow[]; drain: Record<string, number>; failures: string[] }> {
  // 200 at least, so the p99 is one (stats.ts MIN_P99_N).
  const n = ctx.quick ? 200 : 500;
  const cutMs = ctx.quick ? 5_000 : 60_000;
  const failures: string[] = [];
  const rows: LeafRow[] = [];
  const hooks = await startHooksEndpoint();
  hooks.record = false;
  const mesh = await startLeafMesh({ "bench-a": ["bench-send"], "bench-b": ["bench-recv"] });
  // The leaf mesh is open (no credentials), so the direct path beside it is an open single broker too.
  const single = await startBenchBroker({ secure: false, name: "leaf-direct" });
  try {
    const direct = await sidecarOn(single.url, `${ctx.tag}-direct`, hooks);
    const twoHop = await sidecarOn(mesh.macs["bench-b"]!.leaf.url, "bench-recv", hooks, { mac: "bench-b" });
    // The sending Mac runs its identity's sidecar too, as every Mac does: it trims that Mac's outbox
    // as the hub takes what it holds (leaf-outbox.ts); without it a sender is refused after one share.
    const senderSidecar = await sidecarOn(mesh.macs["bench-a"]!.leaf.url, "bench-send", hooks, { mac: "bench-a" });
    const sender = await mesh.client("bench-a", "bench-sender");
    const paths = [
      { path: "direct, open mesh (broker → sidecar)", nc: single.admin, to: `${ctx.tag}-direct` },
      { path: "two-hop, open mesh (leaf → hub → leaf → sidecar)", nc: sender, to: "bench-recv" },
    ];
    // Interleaved, after a warm-up of 20 each.
    for (const round of ["warm-up", "measured"] as const) {
      for (const p of paths) {
        const count = round === "warm-up" ? 20 : n;
        const { lat } = await timedRun(p.nc, hooks, { from: "bench-send", to: p.to, n: count, rate: 100, tag: `${round}-${p.to}` });
        const deadline = Date.now() + 60_000;
        while (lat.length < count && Date.now() < deadline) await sleep(10);
        if (round === "measured") {
          const s = summarize(lat);
          rows.push({ path: p.path, rate: "100/s", sent: count, n: s.n, p50_ms: s.p50, p99_ms: s.p99, max_ms: s.max });
          if (s.n < count) failures.push(`leaf (${p.path}): ${count - s.n} of ${count} not received in 60 s`);
        }
      }
    }
    // The receiving Mac's link cut while the other keeps sending; then the backlog drains. One sender
    // may have at most a share of undelivered mail for a recipient whose Mac is away before its own
    // leaf refuses it (README "Offline-first Macs"), so the backlog is 90 % of a share, spread over the cut.
    const proxy = mesh.macs["bench-b"]!.proxy;
    proxy.reset();
    const backlog = Math.min(Math.round((cutMs / 1000) * 100), Math.round(0.9 * OUTBOX_PER_SENDER_MESSAGES));
    const { lat } = await timedRun(sender, hooks, { from: "bench-send", to: "bench-recv", n: backlog, rate: backlog / (cutMs / 1000), tag: "drain" });
    const arrivedWhileCut = lat.length;
    proxy.up();
    const upAt = performance.now();
    const deadline = Date.now() + 120_000;
    while (lat.length < backlog && Date.now() < deadline) await sleep(10);
    const drainS = (performance.now() - upAt) / 1000;
    if (lat.length < backlog) failures.push(`leaf drain: ${backlog - lat.length} of ${backlog} not received 120 s after the link was back`);
    await direct.stop("bench done");
    await twoHop.stop("bench done");
    await senderSidecar.stop("bench done");
    return {
      rows,
      drain: { cut_s: cutMs / 1000, sent_per_s: Math.round((backlog / (cutMs / 1000)) * 10) / 10, backlog: backlog - arrivedWhileCut, drained_s: Math.round(drainS * 10) / 10, msgs_per_s: Math.round((backlog - arrivedWhileCut) / drainS) },
      failures,
    };
  } finally {
    await mesh.close();
    await single.stop();
    await hooks.close();
  }
}
