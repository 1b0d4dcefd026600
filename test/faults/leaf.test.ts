/**
 * Leaf mode under faults (README "Offline-first Macs"): a hub and two Macs' leaf servers, each link
 * through a TCP proxy, three sidecars delivering to gateway stand-ins. Mac nova hosts nova and nova2,
 * Mac orion hosts orion (its sidecar a `mesh sidecar` process, killed in one scenario). In every row
 * both Macs send to each other and nova sends to nova2 (same-Mac mail) while the fault lasts.
 * Every number a row of RELIABILITY.md shows is measured here (test/README.md).
 *
 * Cuts are shorter than the offline-first note's where the note shows nothing depends on their
 * length once the link is known dead (ping 2 s × 2): 10 s resets, a 12 s silent drop, a 10 s freeze;
 * the hub kill and the cut with both of a Mac's processes killed keep 20 s.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { startLeafMesh, type LeafMesh } from "../support/leaf-mesh.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar } from "../support/sidecar.js";
import { MESH_BIN } from "../support/cli.js";
import { consumersOf } from "../../broker/leaf-provision.js";
import { OUTBOX_PER_SENDER_MESSAGES } from "../../broker/leaf-definitions.js";
import { InboxFullError, publishEnvelope } from "../../src/bus/publish.js";
import { firstLine } from "../../src/base/nats-errors.js";
import { inboxSubject, newEnvelope } from "../../subjects/mod.js";
import { firstTurnAt, inOrder, keysSeen, stream, waitFor } from "./stream.js";
import { count, keyOf, observedBroker, record } from "./tally.js";

const MACS = { nova: ["nova", "nova2"], orion: ["orion"] } as const;
let mesh: LeafMesh;
const hooks: Record<string, HooksEndpoint> = {};
const stops: Array<() => Promise<unknown>> = [];
let orionSidecar: ChildProcess;
let orionConfig: string;
let novaNc: NatsConnection;
let orionNc: NatsConnection;

function runOrionSidecar(): ChildProcess {
  return spawn(process.execPath, [MESH_BIN, "sidecar"], { env: { ...process.env, MESH_CONFIG: orionConfig, MESH_LOG_LEVEL: "warn" }, stdio: "ignore" });
}

beforeAll(async () => {
  mesh = await startLeafMesh({ nova: [...MACS.nova], orion: [...MACS.orion] });
  stops.push(() => mesh.close());
  for (const id of ["nova", "nova2", "orion"]) {
    hooks[id] = await startHooksEndpoint();
    stops.push(() => hooks[id]!.close());
  }
  for (const id of MACS.nova) {
    const s = await testSidecar({ identity: id, server: mesh.macs.nova!.leaf.url, gatewayUrl: hooks[id]!.url, hooksToken: hooks[id]!.token, jobs: false, leaf: mesh.macs.nova!.config });
    stops.push(() => s.stop());
  }
  const home = mkdtempSync(join(tmpdir(), "mesh-leaf-orion-"));
  orionConfig = join(home, "config.json");
  writeFileSync(
    orionConfig,
    JSON.stringify({
      identity: "orion",
      server: mesh.macs.orion!.leaf.url,
      gateway: { url: hooks.orion!.url, hooksToken: hooks.orion!.token, bridge: "hooks" },
      sidecar: { stateDir: join(home, "state"), jobs: false, httpPort: 0, inboxAckWaitMs: 5000 },
      leaf: mesh.macs.orion!.config,
    }),
    { mode: 0o600 },
  );
  orionSidecar = runOrionSidecar();
  stops.push(async () => {
    if (orionSidecar.exitCode === null && orionSidecar.signalCode === null) {
      const exited = once(orionSidecar, "exit");
      orionSidecar.kill("SIGTERM");
      await exited;
    }
  });
  novaNc = await mesh.client("nova", "senders-nova");
  orionNc = await mesh.client("orion", "senders-orion");
}, 60_000);

afterAll(async () => {
  while (stops.length > 0) await stops.pop()!().catch(() => undefined);
});

/** The three streams of a row: nova → orion, orion → nova, and same-Mac nova → nova2. */
interface Flows {
  out: Awaited<ReturnType<typeof stream>>;
  back: Awaited<ReturnType<typeof stream>>;
  local: Awaited<ReturnType<typeof stream>>;
}

async function flows(tag: string, seconds: number, ratePerSec: number, fault: () => Promise<void>): Promise<Flows & { faultDone: number }> {
  const n = Math.round(seconds * ratePerSec);
  let faultDone = 0;
  const [out, back, local] = await Promise.all([
    stream(novaNc, { to: "orion", n, ratePerSec, senders: [`${tag}-nova`] }),
    stream(orionNc, { to: "nova", n, ratePerSec, senders: [`${tag}-orion`] }),
    stream(novaNc, { to: "nova2", n, ratePerSec, senders: [`${tag}-local`] }),
    fault().then(() => void (faultDone = Date.now())),
  ]);
  return { out, back, local, faultDone };
}

/** Only this row's keys (its senders start with the row's tag), as the gateway stand-ins saw them. */
function rowView(h: HooksEndpoint, tag: string): HooksEndpoint {
  const mine = (m: string | undefined): boolean => (keyOf(m) ?? "").startsWith(`${tag}-`);
  return { ...h, postLog: h.postLog.filter((p) => mine(typeof p.body?.message === "string" ? p.body.message : undefined)), received: h.received.filter((r) => mine(r.body.message)) } as HooksEndpoint;
}

/** Waits for every acknowledged key of the row to reach its gateway, then counts the row. */
async function settle(tag: string, f: Flows, restoredAt: number) {
  const views = { orion: () => rowView(hooks.orion!, tag), nova: () => rowView(hooks.nova!, tag), nova2: () => rowView(hooks.nova2!, tag) };
  const all = (): number => new Set([...keysSeen(views.orion()), ...keysSeen(views.nova()), ...keysSeen(views.nova2())]).size;
  const acked = f.out.acked.length + f.back.acked.length + f.local.acked.length;
  await waitFor(() => all() >= acked, 90_000);
  const caughtUpAt = Date.now();
  await new Promise((r) => setTimeout(r, 1500));
  const parts = [count(f.out.acked, views.orion()), count(f.back.acked, views.nova()), count(f.local.acked, views.nova2())];
  const sum = (k: "posts" | "turns") => ({ count: parts.reduce((a, p) => a + p[k]!.count, 0), duplicates: parts.reduce((a, p) => a + p[k]!.duplicates, 0) });
  const order = [views.orion(), views.nova(), views.nova2()].every((v) => inOrder(keysSeen(v)));
  const lastTurn = Math.max(...[views.orion(), views.nova(), views.nova2()].flatMap((v) => [...firstTurnAt(v).values()]));
  return {
    sent: f.out.sent + f.back.sent + f.local.sent,
    acknowledged: acked,
    posts: sum("posts"),
    turns: sum("turns"),
    lost: parts.reduce((a, p) => a + p.lost, 0),
    order,
    caughtUpMs: Math.max(0, Math.min(caughtUpAt, lastTurn) - restoredAt),
  };
}

/** Same-Mac mail delivered while the link was down: nova2's turns from this row between cut and restore. */
function localWhileCut(tag: string, cutAt: number, restoredAt: number): number {
  return rowView(hooks.nova2!, tag).received.filter((r) => r.at > cutAt && r.at < restoredAt).length;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const broker = () => observedBroker("process: hub + 2 leaf servers (leaf mode)", novaNc);

describe("faults: leaf mode (hub + two Macs' leaf servers, link proxy)", () => {
  it("L1. hub killed (SIGKILL) for 20 s while both Macs send: every publish acknowledged by its Mac's leaf, same-Mac mail delivered meanwhile, nothing lost or doubled after the hub is back, per-sender order kept", async () => {
    let cutAt = 0;
    let restoredAt = 0;
    const f = await flows("l1", 30, 5, async () => {
      await sleep(3000);
      await mesh.hub.kill();
      cutAt = Date.now();
      await sleep(20_000);
      await mesh.hub.start();
      restoredAt = Date.now();
    });
    const t = await settle("l1", f, restoredAt);
    const local = localWhileCut("l1", cutAt, restoredAt);
    record({
      scenario: "L1. leaf mode: hub SIGKILL 20 s, both Macs sending",
      broker: broker(),
      sent: t.sent,
      acknowledged: t.acknowledged,
      posts: t.posts,
      turns: t.turns,
      lost: t.lost,
      notes: `hub down ${((restoredAt - cutAt) / 1000).toFixed(1)} s; longest local publish pause ${Math.max(f.out.maxPauseMs, f.back.maxPauseMs, f.local.maxPauseMs)} ms; ${local} same-Mac turns while the hub was down; caught up ${(t.caughtUpMs / 1000).toFixed(1)} s after restart; per-sender order kept: ${t.order}`,
    });
    expect(restoredAt - cutAt).toBeGreaterThanOrEqual(20_000);
    expect(local).toBeGreaterThan(0);
    expect(t.lost).toBe(0);
    expect(t.turns.duplicates).toBe(0);
    expect(t.order).toBe(true);
  });

  it("L2. link reset (RST, reconnects refused) for 10 s: nothing lost or doubled, same-Mac mail delivered meanwhile, per-sender order kept", async () => {
    let cutAt = 0;
    let restoredAt = 0;
    const proxies = Object.values(mesh.macs).map((m) => m.proxy);
    const before = proxies.map((p) => p.accepted);
    const f = await flows("l2", 15, 5, async () => {
      await sleep(2000);
      for (const p of proxies) p.reset();
      cutAt = Date.now();
      await sleep(10_000);
      for (const p of proxies) p.up();
      restoredAt = Date.now();
    });
    const t = await settle("l2", f, restoredAt);
    const local = localWhileCut("l2", cutAt, restoredAt);
    const reconnects = proxies.map((p, i) => p.accepted - before[i]!);
    record({
      scenario: "L2. leaf mode: both links reset 10 s",
      broker: broker(),
      sent: t.sent,
      acknowledged: t.acknowledged,
      posts: t.posts,
      turns: t.turns,
      lost: t.lost,
      notes: `links reset for ${((restoredAt - cutAt) / 1000).toFixed(1)} s; link connections tried through the proxies meanwhile and after: ${reconnects.join(" and ")}; ${local} same-Mac turns meanwhile; caught up ${(t.caughtUpMs / 1000).toFixed(1)} s after the links were back; per-sender order kept: ${t.order}`,
    });
    for (const r of reconnects) expect(r).toBeGreaterThan(0);
    expect(local).toBeGreaterThan(0);
    expect(t.lost).toBe(0);
    expect(t.turns.duplicates).toBe(0);
    expect(t.order).toBe(true);
  });

  it("L3. link silently dropped for 12 s (no RST, no byte either way): the leaves find it dead by ping and reconnect once it is back; nothing lost or doubled, per-sender order kept", async () => {
    let cutAt = 0;
    let restoredAt = 0;
    const proxies = Object.values(mesh.macs).map((m) => m.proxy);
    const before = proxies.map((p) => p.accepted);
    const f = await flows("l3", 18, 5, async () => {
      await sleep(2000);
      for (const p of proxies) p.drop();
      cutAt = Date.now();
      await sleep(12_000);
      for (const p of proxies) p.up();
      restoredAt = Date.now();
    });
    const t = await settle("l3", f, restoredAt);
    const reconnects = proxies.map((p, i) => p.accepted - before[i]!);
    record({
      scenario: "L3. leaf mode: both links silently dropped 12 s",
      broker: broker(),
      sent: t.sent,
      acknowledged: t.acknowledged,
      posts: t.posts,
      turns: t.turns,
      lost: t.lost,
      notes: `links dropped for ${((restoredAt - cutAt) / 1000).toFixed(1)} s; link connections made meanwhile and after: ${reconnects.join(" and ")}; ${localWhileCut("l3", cutAt, restoredAt)} same-Mac turns meanwhile; caught up ${(t.caughtUpMs / 1000).toFixed(1)} s after; per-sender order kept: ${t.order}`,
    });
    for (const r of reconnects) expect(r).toBeGreaterThan(0);
    expect(t.lost).toBe(0);
    expect(t.turns.duplicates).toBe(0);
    expect(t.order).toBe(true);
  });

  it("L4. 10 flaps of both links (1 s reset, 1 s up): nothing lost or doubled, per-sender order kept", async () => {
    const proxies = Object.values(mesh.macs).map((m) => m.proxy);
    const before = proxies.map((p) => p.accepted);
    let restoredAt = 0;
    const f = await flows("l4", 22, 10, async () => {
      await sleep(1000);
      for (let i = 0; i < 10; i++) {
        for (const p of proxies) p.reset();
        await sleep(1000);
        for (const p of proxies) p.up();
        await sleep(1000);
      }
      restoredAt = Date.now();
    });
    const t = await settle("l4", f, restoredAt);
    const reconnects = proxies.map((p, i) => p.accepted - before[i]!);
    record({
      scenario: "L4. leaf mode: 10 flaps of both links",
      broker: broker(),
      sent: t.sent,
      acknowledged: t.acknowledged,
      posts: t.posts,
      turns: t.turns,
      lost: t.lost,
      notes: `10 × (1 s reset, 1 s up); link connections tried through the proxies: ${reconnects.join(" and ")}; caught up ${(t.caughtUpMs / 1000).toFixed(1)} s after the last flap; per-sender order kept: ${t.order}`,
    });
    // Every flap was seen by both leaves: at least one new link connection per flap each.
    for (const r of reconnects) expect(r).toBeGreaterThanOrEqual(10);
    expect(t.lost).toBe(0);
    expect(t.turns.duplicates).toBe(0);
    expect(t.order).toBe(true);
  });

  it("L5. hub frozen (SIGSTOP) for 10 s: nothing lost or doubled after SIGCONT, same-Mac mail delivered meanwhile, per-sender order kept", async () => {
    let cutAt = 0;
    let restoredAt = 0;
    const f = await flows("l5", 15, 5, async () => {
      await sleep(2000);
      process.kill(mesh.hub.pid(), "SIGSTOP");
      cutAt = Date.now();
      await sleep(10_000);
      process.kill(mesh.hub.pid(), "SIGCONT");
      restoredAt = Date.now();
    });
    const t = await settle("l5", f, restoredAt);
    const local = localWhileCut("l5", cutAt, restoredAt);
    record({
      scenario: "L5. leaf mode: hub frozen (SIGSTOP) 10 s",
      broker: broker(),
      sent: t.sent,
      acknowledged: t.acknowledged,
      posts: t.posts,
      turns: t.turns,
      lost: t.lost,
      notes: `hub stopped ${((restoredAt - cutAt) / 1000).toFixed(1)} s; ${local} same-Mac turns meanwhile; caught up ${(t.caughtUpMs / 1000).toFixed(1)} s after SIGCONT; per-sender order kept: ${t.order}`,
    });
    expect(local).toBeGreaterThan(0);
    expect(t.lost).toBe(0);
    expect(t.turns.duplicates).toBe(0);
    expect(t.order).toBe(true);
  });

  it("L6. orion's leaf server and sidecar both SIGKILLed and restarted during a 20 s cut of its link: nothing lost or doubled, per-sender order kept", async () => {
    const orion = mesh.macs.orion!;
    let cutAt = 0;
    let restoredAt = 0;
    let killSignal: string | null = null;
    const f = await flows("l6", 25, 5, async () => {
      await sleep(2000);
      orion.proxy.reset();
      cutAt = Date.now();
      await sleep(4000);
      const exited = once(orionSidecar, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
      orionSidecar.kill("SIGKILL");
      [, killSignal] = await exited;
      await orion.leaf.kill();
      await sleep(2000);
      await orion.leaf.start();
      orionSidecar = runOrionSidecar();
      await sleep(Math.max(0, cutAt + 20_000 - Date.now()));
      orion.proxy.up();
      restoredAt = Date.now();
    });
    const t = await settle("l6", f, restoredAt);
    record({
      scenario: "L6. leaf mode: a Mac's leaf and sidecar SIGKILLed during a 20 s cut",
      broker: broker(),
      sent: t.sent,
      acknowledged: t.acknowledged,
      posts: t.posts,
      turns: t.turns,
      lost: t.lost,
      notes: `orion's link cut ${((restoredAt - cutAt) / 1000).toFixed(1)} s; its sidecar exited by ${killSignal ?? "no signal"}, its leaf server killed and both restarted while cut; orion's senders retried while its leaf was down (longest pause ${f.back.maxPauseMs} ms); caught up ${(t.caughtUpMs / 1000).toFixed(1)} s after; per-sender order kept: ${t.order}`,
    });
    expect(killSignal).toBe("SIGKILL");
    expect(t.lost).toBe(0);
    expect(t.turns.duplicates).toBe(0);
    expect(t.order).toBe(true);
  });

  it("L7. same-Mac mail while nova is offline: every nova → nova2 message reaches nova2's gateway before the link is back, once each, in order", async () => {
    const nova = mesh.macs.nova!;
    nova.proxy.reset();
    const cutAt = Date.now();
    const local = await stream(novaNc, { to: "nova2", n: 40, ratePerSec: 10, senders: ["l7-local"] });
    const delivered = await waitFor(() => new Set(keysSeen(rowView(hooks.nova2!, "l7"))).size >= local.acked.length, 20_000);
    const deliveredAt = Date.now();
    nova.proxy.up();
    const c = count(local.acked, rowView(hooks.nova2!, "l7"));
    record({
      scenario: "L7. leaf mode: same-Mac mail while the Mac is offline",
      broker: broker(),
      sent: local.sent,
      ...c,
      notes: `nova's link reset the whole time (${((deliveredAt - cutAt) / 1000).toFixed(1)} s); all ${c.turns!.count} turns at nova2's gateway before it came back; per-sender order kept: ${inOrder(keysSeen(rowView(hooks.nova2!, "l7")))}`,
    });
    expect(delivered).toBe(true);
    expect(c.lost).toBe(0);
    expect(c.turns!.duplicates).toBe(0);
    expect(inOrder(keysSeen(rowView(hooks.nova2!, "l7")))).toBe(true);
  });

  it("L8. a sender's outbox share counts undelivered mail only: 2.2 shares sent to a peer on another Mac and 2.2 to one on the same Mac (125/s each), none refused, each delivered once in order; afterwards nova's outbox and orion's hub inbox hold none of it", async () => {
    const n = Math.round(2.2 * OUTBOX_PER_SENDER_MESSAGES);
    const refusals: string[] = [];
    const send = async (to: string, from: string): Promise<string[]> => {
      const acked: string[] = [];
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        const wait = start + (i * 1000) / 125 - performance.now();
        if (wait > 0) await sleep(wait);
        const env = newEnvelope({ from, to, kind: "message", body: `#${from}:${i}# over the share` });
        try {
          await publishEnvelope(novaNc, inboxSubject(to, from), env);
          acked.push(`${from}:${i}`);
        } catch (err) {
          refusals.push((err as Error).message);
        }
      }
      return acked;
    };
    const [toOrion, toNova2] = await Promise.all([send("orion", "l8-nova"), send("nova2", "l8-local")]);
    const views = () => [rowView(hooks.orion!, "l8"), rowView(hooks.nova2!, "l8")];
    await waitFor(() => new Set(views().flatMap(keysSeen)).size >= toOrion.length + toNova2.length, 90_000);
    const c = [count(toOrion, views()[0]!), count(toNova2, views()[1]!)];
    const lanes = async () => {
      const outbox = (await (await jetstreamManager(novaNc)).streams.info("OUTBOX-nova", { subjects_filter: "agent.*.inbox.l8-*" })).state.subjects ?? {};
      const hubInbox = (await (await jetstreamManager(mesh.admin)).streams.info("INBOX-orion", { subjects_filter: "agent.orion.inbox.l8-nova" })).state.subjects ?? {};
      return Object.values(outbox).reduce((a, b) => a + b, 0) + Object.values(hubInbox).reduce((a, b) => a + b, 0);
    };
    let left = await lanes();
    for (const until = Date.now() + 20_000; left > 0 && Date.now() < until; left = await lanes()) await sleep(500);
    const order = views().every((v) => inOrder(keysSeen(v)));
    record({
      scenario: "L8. leaf mode: 2.2 shares from one sender, online",
      broker: broker(),
      sent: 2 * n,
      acknowledged: toOrion.length + toNova2.length,
      posts: { count: c[0]!.posts!.count + c[1]!.posts!.count, duplicates: c[0]!.posts!.duplicates + c[1]!.posts!.duplicates },
      turns: { count: c[0]!.turns!.count + c[1]!.turns!.count, duplicates: c[0]!.turns!.duplicates + c[1]!.turns!.duplicates },
      lost: c[0]!.lost + c[1]!.lost,
      notes: `${n} to orion (other Mac) and ${n} to nova2 (same Mac) at 125/s each, share ${OUTBOX_PER_SENDER_MESSAGES}; ${refusals.length} refused; left in nova's outbox and orion's hub inbox afterwards: ${left}; per-sender order kept: ${order}`,
    });
    expect(refusals).toEqual([]);
    expect(c[0]!.lost + c[1]!.lost).toBe(0);
    expect(c[0]!.turns!.duplicates + c[1]!.turns!.duplicates).toBe(0);
    expect(order).toBe(true);
    expect(left).toBe(0);
  });

  it("L9. orion's Mac away while nova sends it all it can: the outbox stops trimming once the hub holds a share, so nova is refused by its own leaf (\"maximum messages per subject exceeded\") after between 1.5 and 3 shares; once orion is back every accepted message is delivered once, in order (none dropped downstream), and nova may send again", async () => {
    const orion = mesh.macs.orion!;
    orion.proxy.reset();
    const from = "l9-nova";
    const acked: string[] = [];
    let refusal: unknown;
    const start = performance.now();
    for (let i = 0; i < 4 * OUTBOX_PER_SENDER_MESSAGES && refusal === undefined; i++) {
      const wait = start + (i * 1000) / 400 - performance.now();
      if (wait > 0) await sleep(wait);
      const env = newEnvelope({ from, to: "orion", kind: "message", body: `#${from}:${i}# while orion is away` });
      try {
        await publishEnvelope(novaNc, inboxSubject("orion", from), env);
        acked.push(`${from}:${i}`);
      } catch (err) {
        refusal = err;
      }
    }
    orion.proxy.up();
    const upAt = Date.now();
    await waitFor(() => new Set(keysSeen(rowView(hooks.orion!, "l9"))).size >= acked.length, 90_000);
    const caughtUp = Date.now() - upAt;
    const c = count(acked, rowView(hooks.orion!, "l9"));
    const order = inOrder(keysSeen(rowView(hooks.orion!, "l9")));
    let again: unknown;
    for (const until = Date.now() + 20_000; Date.now() < until; await sleep(500)) {
      again = await publishEnvelope(novaNc, inboxSubject("orion", from), newEnvelope({ from, to: "orion", kind: "message", body: `#${from}:again# back` })).then(
        () => "accepted",
        (err: unknown) => err,
      );
      if (again === "accepted") break;
    }
    record({
      scenario: "L9. leaf mode: the recipient's Mac away, one sender sending all it can",
      broker: broker(),
      sent: acked.length + 1,
      acknowledged: acked.length,
      posts: c.posts!,
      turns: c.turns!,
      lost: c.lost,
      notes: `orion's link reset while nova sent at 400/s until refused: ${acked.length} accepted (${(acked.length / OUTBOX_PER_SENDER_MESSAGES).toFixed(2)} shares), then "${firstLine(refusal)}"; all delivered ${(caughtUp / 1000).toFixed(1)} s after the link was back; per-sender order kept: ${order}; a new send after that: ${again === "accepted" ? "accepted" : firstLine(again)}`,
    });
    expect(refusal).toBeInstanceOf(InboxFullError);
    expect((refusal as Error).message).toContain("maximum messages per subject exceeded");
    expect(acked.length).toBeGreaterThanOrEqual(1.5 * OUTBOX_PER_SENDER_MESSAGES);
    expect(acked.length).toBeLessThanOrEqual(3 * OUTBOX_PER_SENDER_MESSAGES);
    expect(c.lost).toBe(0);
    expect(c.turns!.duplicates).toBe(0);
    expect(order).toBe(true);
    expect(again).toBe("accepted");
  });

  it("no consumer is created across the link: after every scenario the hub holds no consumer at all (sources and mirrors run on internal ones, which the API does not list), and nova's leaf holds exactly its two sidecars' durable inbox consumers", async () => {
    const hubJsm = await jetstreamManager(mesh.admin);
    expect(await consumersOf(hubJsm)).toEqual([]);
    // On nova's leaf, the durable consumers are its sidecars' inbox consumers, nothing else.
    const novaLeaf = await jetstreamManager(novaNc);
    const durable: string[] = [];
    for (const c of await consumersOf(novaLeaf)) {
      const [stream, name] = c.split("/") as [string, string];
      if ((await novaLeaf.consumers.info(stream, name)).config.durable_name) durable.push(c);
    }
    expect(durable).toEqual(["INBOX-nova/inbox-nova", "INBOX-nova2/inbox-nova2"]);
  });
});
