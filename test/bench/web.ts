/**
 * What the web view costs: RSS of the `mesh web` process (from dist) idle and under load, and the
 * event rate the page (Debian's Chromium, playwright-core) renders without falling behind.
 *
 *   npm run build && vite-node test/bench/web.ts [-- --seconds 5 --rates 250,500,1000,2000,4000,8000 --out file.json]
 *
 * Each step publishes valid `message.delivered` events (each one a flow row, a chart point and an
 * activity line) at a fixed rate for `seconds`, then reads the page's rendered event counter. A
 * rate is kept up with when, at the end of the step, the page is behind by less than 250 ms of
 * events and catches up within 1 s. Every number printed is measured in this run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { encodeEnvelope, eventSubject, newEnvelope } from "../../subjects/mod.js";
import { startBroker } from "../support/broker.js";
import { MESH_BIN } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { childEnv, launchChromium } from "../support/browser.js";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round((Number(m[1]) / 1024) * 10) / 10;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const seconds = Number(arg("seconds", "5"));
  const rates = arg("rates", "250,500,1000,2000,4000,8000").split(",").map(Number);
  const out = arg("out", "");
  const broker = await startBroker();
  const nc = await connectMesh({ server: broker.url, persistent: true });
  await provision(nc, { identities: ["bench"] });
  const home = mkdtempSync(join(tmpdir(), "mesh-web-bench-"));
  const cfg = join(home, "config.json");
  writeFileSync(cfg, JSON.stringify({ identity: "bench", server: broker.url }), { mode: 0o600 });
  const port = await freePort();
  const web: ChildProcess = spawn(process.execPath, [MESH_BIN, "web", "--port", String(port)], { env: childEnv({ MESH_CONFIG: cfg, MESH_HOME: home }), stdio: ["ignore", "pipe", "inherit"] });
  let printed = "";
  web.stdout!.on("data", (d: Buffer) => (printed += d.toString()));
  const browser = await launchChromium();
  try {
    for (let i = 0; i < 200 && !/web: http/.test(printed); i++) await sleep(50);
    if (!/web: http/.test(printed)) throw new Error("mesh web did not start");
    await sleep(3000);
    const rssIdle = rssMiB(web.pid!);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await sleep(2000);
    const rssPageOpen = rssMiB(web.pid!);
    const rendered = async () => Number(await page.locator("#count-events").textContent());
    let published = await rendered();
    const steps: Array<{ rate: number; sent: number; behindAtEnd: number; serverBehindAtEnd: number; catchUpMs: number | null; keptUp: boolean; rssMaxMiB: number; achievedRate: number }> = [];
    console.log(`mesh web RSS: idle ${rssIdle} MiB, one page open ${rssPageOpen} MiB`);
    console.log("rate/s (achieved)  sent   page behind at end (server)  catch-up   kept up  RSS max");
    for (const rate of rates) {
      const total = rate * seconds;
      const t0 = Date.now();
      let sent = 0;
      let rssMax = rssMiB(web.pid!);
      while (sent < total) {
        const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
        for (; sent < due; sent++) {
          const env = newEnvelope({
            from: "bench",
            to: "*",
            kind: "event",
            type: "message.delivered",
            body: { id: `b${rate}-${sent}-xxxxxxxx`, from: "load", seq: sent, attempts: 1, latencyMs: 5 + (sent % 50) },
          });
          nc.publish(eventSubject("bench", "message", "delivered"), encodeEnvelope(env));
        }
        if (sent % 50 === 0) rssMax = Math.max(rssMax, rssMiB(web.pid!));
        await sleep(5);
      }
      await nc.flush();
      const elapsed = (Date.now() - t0) / 1000;
      published += total;
      const behindAtEnd = published - (await rendered());
      // The server's own count at the same moment: which side is behind, the process or the page.
      const serverBehind = published - ((await (await fetch(`http://127.0.0.1:${port}/api/state`)).json()) as { counters: { events: number } }).counters.events;
      const endAt = Date.now();
      let catchUpMs: number | null = null;
      while (Date.now() - endAt < 5000) {
        if ((await rendered()) >= published) {
          catchUpMs = Date.now() - endAt;
          break;
        }
        rssMax = Math.max(rssMax, rssMiB(web.pid!));
        await sleep(20);
      }
      const keptUp = behindAtEnd < rate * 0.25 && catchUpMs !== null && catchUpMs <= 1000;
      steps.push({ rate, sent: total, behindAtEnd, serverBehindAtEnd: serverBehind, catchUpMs, keptUp, rssMaxMiB: rssMax, achievedRate: Math.round(total / elapsed) });
      console.log(
        `${String(rate).padStart(6)} (${String(Math.round(total / elapsed)).padStart(6)})  ${String(total).padStart(5)}  ${String(behindAtEnd).padStart(18)} (${serverBehind})  ${catchUpMs === null ? "  > 5 s" : `${String(catchUpMs).padStart(5)} ms`}  ${keptUp ? "yes" : "no "}      ${rssMax} MiB`,
      );
      if (catchUpMs === null) break;
      await sleep(1000);
    }
    const best = steps.filter((s) => s.keptUp).reduce((m, s) => Math.max(m, s.rate), 0);
    const rssLoad = Math.max(...steps.map((s) => s.rssMaxMiB));
    await sleep(3000);
    const rssAfter = rssMiB(web.pid!);
    const result = { seconds, rssIdleMiB: rssIdle, rssPageOpenMiB: rssPageOpen, rssUnderLoadMaxMiB: rssLoad, rssAfterLoadMiB: rssAfter, keptUpToEventsPerSec: best, steps };
    console.log(`page keeps up to ${best} events/s; mesh web RSS idle ${rssIdle} MiB, under load up to ${rssLoad} MiB, ${rssAfter} MiB 3 s after`);
    if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await browser.close();
    web.kill("SIGTERM");
    await nc.close();
    await broker.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
