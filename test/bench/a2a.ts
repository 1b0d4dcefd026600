import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { startGateway, type Gateway } from "../support/openclaw/gateway.js";
import { startModelServer } from "../support/openclaw/model-server.js";
import { gatewayPorts } from "../support/ports.js";
import { testSidecar, until } from "../support/sidecar.js";
import { latencyCols, round, tailColumns, tailOf, type LatencyCols } from "./stats.js";
import type { BenchContext } from "./scenarios.js";

/**
 * 6. Agents talking: OpenClaw's own direct A2A peering (an A2A client → nova's gateway over HTTP,
 * no bus) against the mesh (the same client → clawd's sidecar endpoint → JetStream → nova's
 * sidecar → nova's gateway, and the answer back the same way), two REAL gateways, a stub model
 * that answers at once, one run. Then what each does while nova's gateway is down.
 */
const root = fileURLToPath(new URL("../..", import.meta.url));

interface Rpc {
  result?: { task?: Task } & Partial<Task>;
  error?: { code: number; message: string };
}
interface Task {
  id: string;
  status: { state: string };
  artifacts?: Array<{ parts?: Array<{ text?: string }> }>;
}

async function rpc(url: string, token: string, method: string, params: unknown, timeoutMs = 120_000): Promise<Rpc> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: randomBytes(4).toString("hex"), method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return (await r.json()) as Rpc;
}

const message = (text: string, contextId: string) => ({ message: { messageId: crypto.randomUUID(), role: "ROLE_USER", parts: [{ text }], contextId } });

/** Direct: one blocking SendMessage to nova's gateway; the task comes back completed. */
async function direct(gatewayUrl: string, token: string, text: string): Promise<string> {
  const r = await rpc(`${gatewayUrl}/a2a/v1`, token, "SendMessage", message(text, "bench-direct"));
  const t = r.result?.task;
  if (!t || t.status.state !== "TASK_STATE_COMPLETED") throw new Error(`direct: ${JSON.stringify(r).slice(0, 200)}`);
  return t.artifacts?.[0]?.parts?.[0]?.text ?? "";
}

/**
 * Mesh: one blocking SendMessage to clawd's sidecar (an A2A client's ask: stored on the bus,
 * delivered by nova's sidecar, answered on its reply subject); the sidecar answers when the task
 * completed — events on the way, no GetTask polling by the client.
 */
async function viaMesh(endpoint: string, token: string, text: string): Promise<string> {
  const r = await rpc(endpoint, token, "SendMessage", message(text, "bench-mesh"));
  const t = r.result?.task;
  if (!t || t.status.state !== "TASK_STATE_COMPLETED") throw new Error(`mesh: ${JSON.stringify(r).slice(0, 200)}`);
  return t.artifacts?.[0]?.parts?.[0]?.text ?? "";
}

/** Mesh, streamed (SendStreamingMessage, SSE): ms to the first event (the task, SUBMITTED) and to the final one. */
async function streamed(endpoint: string, token: string, text: string): Promise<{ first: number; final: number; answer: string }> {
  const t0 = performance.now();
  const r = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, accept: "text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "SendStreamingMessage", params: message(text, "bench-stream") }),
    signal: AbortSignal.timeout(120_000),
  });
  if (!r.body) throw new Error(`stream: HTTP ${r.status}`);
  let first = NaN;
  let answer = "";
  let buf = "";
  const decoder = new TextDecoder();
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    if (Number.isNaN(first)) first = performance.now() - t0;
    buf += decoder.decode(chunk, { stream: true });
    for (let i = buf.indexOf("\n\n"); i !== -1; i = buf.indexOf("\n\n")) {
      const data = buf.slice(0, i).split("\n").find((l) => l.startsWith("data: "))?.slice(6);
      buf = buf.slice(i + 2);
      const ev = data ? (JSON.parse(data) as { result?: { artifactUpdate?: { artifact?: { parts?: Array<{ text?: string }> } }; statusUpdate?: { status?: { state?: string } } } }) : undefined;
      const text = ev?.result?.artifactUpdate?.artifact?.parts?.[0]?.text;
      if (text) answer = text;
      if (ev?.result?.statusUpdate?.status?.state === "TASK_STATE_COMPLETED") return { first, final: performance.now() - t0, answer };
    }
  }
  throw new Error("stream: ended before COMPLETED");
}

/** Timed turns per path (not --quick): 200, so the p99 is one. */
export const A2A_TURNS = 200;

/** The OpenClaw version the gateways run (from the installed package). */
function openclawVersion(): string {
  return (JSON.parse(readFileSync(`${root}/.cache/openclaw/node_modules/openclaw/package.json`, "utf8")) as { version: string }).version;
}

export async function a2aVsDirect(ctx: BenchContext): Promise<{
  rows: Array<{ path: string; failed: number } & LatencyCols>;
  stream: Array<{ event: string } & LatencyCols>;
  ratioP50: number;
  ratioTail: number;
  tail: "p99" | "max";
  openclaw: string;
  down: Array<{ path: string; while_down: string; after_restart: string }>;
}> {
  execFileSync("bash", [`${root}/test/support/openclaw/install.sh`], { stdio: "ignore" });
  // One stub model per gateway, so what nova's model was asked is counted on nova's alone.
  const [model, clawdModel] = await Promise.all([startModelServer(), startModelServer()]);
  // nova answers each BENCH-n; clawd, shown nova's answer (sender: nova), says nothing (no third turn).
  clawdModel.reply = () => "NO_REPLY";
  // Turns nova's model was asked to answer, per marker (what arrived, counted by the run).
  const turns = new Map<string, number>();
  model.reply = (r) => {
    const m = /BENCH-[a-z0-9]+/.exec(r.turn);
    if (m) turns.set(m[0], (turns.get(m[0]) ?? 0) + 1);
    return m ? `answer to ${m[0]}` : "NO_REPLY";
  };
  const directToken = `direct-${randomBytes(12).toString("hex")}`;
  // The bench's A2A client on clawd's sidecar (sidecar.a2aClients): its messages are asks.
  const clientToken = `bench-${randomBytes(12).toString("hex")}`;
  const clientTokenFile = join(mkdtempSync(join(tmpdir(), "mesh-bench-a2a-")), "bench.token");
  writeFileSync(clientTokenFile, clientToken, { mode: 0o600 });
  const gw: Gateway[] = [];
  const sidecars: Sidecar[] = [];
  try {
    const [p1, p2] = await gatewayPorts();
    const a2a = { enabled: true, rateLimitPerMinute: 0 };
    // nova also has a hand-configured peer "bench-client" for the direct path (the mesh leaves it alone).
    const [nova, clawd] = await Promise.all([
      startGateway({ port: p1, modelUrl: model.url, a2a: { ...a2a, peers: { "bench-client": { token: directToken } } } }),
      startGateway({ port: p2, modelUrl: clawdModel.url, a2a }),
    ]);
    gw.push(nova, clawd);
    const ids = { nova: `${ctx.tag}-nova`, clawd: `${ctx.tag}-clawd` };
    await ctx.broker.addIdentities([ids.nova, ids.clawd]);
    for (const [id, g] of [[ids.nova, nova], [ids.clawd, clawd]] as const) {
      const creds = ctx.broker.creds(id);
      sidecars.push(
        await testSidecar({
          identity: id,
          server: ctx.broker.url,
          ...(creds ? { creds } : {}),
          gatewayUrl: g.url,
          hooksToken: g.hooksToken,
          gatewayToken: g.gatewayToken,
          gatewayConfigFile: g.configFile,
          jobs: false,
          ...(id === ids.clawd ? { a2aClients: [{ name: "bench", tokenFile: clientTokenFile }] } : {}),
        }),
      );
    }
    const peerOf = (g: Gateway, id: string) =>
      (JSON.parse(readFileSync(g.configFile, "utf8")) as { channels: { a2a: { peers: Record<string, { url: string; outboundToken: string }> } } }).channels.a2a.peers[id];
    await until("both gateways know each other", () => peerOf(nova, ids.clawd) && peerOf(clawd, ids.nova), 60_000);
    await until("both A2A channels serve", async () => {
      const codes = await Promise.all(gw.map((g) => fetch(`${g.url}/a2a/v1`, { method: "POST", body: "{}" }).then((r) => r.status, () => 0)));
      return codes.every((c) => c === 401);
    }, 90_000);
    const { url: endpoint, outboundToken } = peerOf(clawd, ids.nova)!;
    const n = ctx.quick ? 5 : A2A_TURNS;
    // Warm up until each path completed a turn: right after it starts, the gateway fails some turns
    // on its own ("another OpenClaw process owns state-lifecycle", "Async work scope is closed").
    // A path that never completes a warm-up turn says why (its last error).
    const warm = async (what: string, turn: () => Promise<string>): Promise<void> => {
      let last = "none";
      const attempt = () => turn().then(() => true, (err: Error) => ((last = String(err.cause ?? err.message).slice(0, 300)), false));
      await until(what, attempt, 120_000).catch((err: Error) => {
        throw new Error(`${err.message}; its last error: ${last}`);
      });
    };
    await warm("a direct turn completes", () => direct(nova.url, directToken, "BENCH-w0"));
    await warm("a turn through the mesh completes", () => viaMesh(endpoint, clientToken, "BENCH-w1"));
    const timesDirect: number[] = [];
    const timesMesh: number[] = [];
    const failures = { direct: 0, mesh: 0 };
    // Interleaved, so both paths see the same machine load, and in alternating order (direct first
    // on even turns, the mesh first on odd ones): a turn right after another one to the same gateway
    // meets that gateway still finishing the first. A failed turn is counted, not timed.
    const timeDirect = async (i: number) => {
      const t = performance.now();
      const a = await direct(nova.url, directToken, `BENCH-${i}0`).catch(() => undefined);
      if (a?.includes(`BENCH-${i}0`)) timesDirect.push(performance.now() - t);
      else failures.direct++;
    };
    const timeMesh = async (i: number) => {
      const t = performance.now();
      const b = await viaMesh(endpoint, clientToken, `BENCH-${i}1`).catch(() => undefined);
      if (b?.includes(`BENCH-${i}1`)) timesMesh.push(performance.now() - t);
      else failures.mesh++;
    };
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) {
        await timeDirect(i);
        await timeMesh(i);
      } else {
        await timeMesh(i);
        await timeDirect(i);
      }
    }
    // Streamed through the mesh: when the client hears first (the task, SUBMITTED) vs the answer.
    const firsts: number[] = [];
    const finals: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = await streamed(endpoint, clientToken, `BENCH-${i}2`).catch(() => undefined);
      if (r?.answer.includes(`BENCH-${i}2`)) {
        firsts.push(r.first);
        finals.push(r.final);
      } else failures.mesh++;
    }
    const rows = tailColumns([
      { path: "direct A2A (client → nova's gateway, blocking SendMessage)", failed: failures.direct, ...latencyCols(timesDirect) },
      { path: "mesh, secure (client → clawd's sidecar → JetStream → nova's sidecar → nova's gateway, and back)", failed: failures.mesh, ...latencyCols(timesMesh) },
    ]);
    const [rd, rm] = [tailOf(rows[0]!), tailOf(rows[1]!)];
    const tail = rd.tail === "p99" && rm.tail === "p99" ? "p99" : "max";
    const summary = { rows, ratioP50: round(rows[1]!.p50_ms / rows[0]!.p50_ms), ratioTail: round(rm.value / rd.value), tail, openclaw: openclawVersion() } as const;
    const stream = tailColumns([
      { event: "first streamed event (the task, SUBMITTED: stored on JetStream)", ...latencyCols(firsts) },
      { event: "final event (COMPLETED, after the answer's artifact)", ...latencyCols(finals) },
    ]);

    // nova's gateway down: what each path does with a message sent meanwhile. Not in --quick (the
    // smoke run): a gateway restart costs over a minute, and test/integration/a2a-bridge.test.ts
    // proves the same delivery ("nova's gateway down → … arrive once each, in order").
    if (ctx.quick) {
      return { ...summary, stream, down: [] };
    }
    // Markers of their own (the timed turns' BENCH-<i><path> include BENCH-900 and BENCH-901 from
    // 200 turns on), counted from here on.
    turns.clear();
    await nova.stop();
    let directDown: string;
    try {
      await direct(nova.url, directToken, "BENCH-down0");
      directDown = "answered";
    } catch (err) {
      directDown = `error: ${String((err as Error).cause ?? (err as Error).message).slice(0, 60)}`;
    }
    const meshAccepted = await rpc(endpoint, outboundToken, "SendMessage", { ...message("BENCH-down1 sent while nova is down", "bench-mesh"), configuration: { returnImmediately: true } });
    const meshId = meshAccepted.result?.task?.id;
    const meshDown = meshId ? `accepted (${meshAccepted.result?.task?.status.state})` : `refused: ${JSON.stringify(meshAccepted).slice(0, 80)}`;
    const restarted = performance.now();
    await nova.start();
    let meshAfter = "not answered";
    if (meshId) {
      await until("the message sent while down is answered", async () => {
        const t = await rpc(endpoint, outboundToken, "GetTask", { id: meshId });
        return t.result?.status?.state === "TASK_STATE_COMPLETED" && t;
      }, 180_000);
      meshAfter = `delivered and answered ${round((performance.now() - restarted) / 1000, 1)} s after the gateway process was started`;
    }
    // Counted once the mesh's message was answered (or given up on): how often nova's model was
    // asked about each message sent while the gateway was down.
    const arrived = (marker: string): string => `turns of nova's model for it after the restart: ${turns.get(marker) ?? 0}`;
    const down = [
      { path: "direct A2A", while_down: directDown, after_restart: arrived("BENCH-down0") },
      { path: "mesh, secure", while_down: meshDown, after_restart: `${meshAfter}; ${arrived("BENCH-down1")}` },
    ];
    return { ...summary, stream, down };
  } finally {
    for (const s of sidecars) await s.stop("bench done").catch(() => undefined);
    await Promise.all(gw.map((g) => g.stop()));
    await Promise.all([model.close(), clawdModel.close()]);
  }
}
