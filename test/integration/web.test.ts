/**
 * The web view (`mesh web`, run from dist) in a real browser: Debian's Chromium driven by
 * playwright-core, against a real nats-server with two sidecars (clawd in this process, nova a
 * `mesh sidecar` child so it can be killed). The sidecars post to the hooks stand-in; real
 * gateways are covered by the gateway tests. Screenshots go to test/output/web/.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import type { NatsConnection } from "@nats-io/nats-core";
import { sendMessage } from "../../src/bus/publish.js";
import { submitJob, waitForJob } from "../../src/features/jobs/client.js";
import { encodeEnvelope, eventSubject, newEnvelope } from "../../subjects/mod.js";
import type { TestBroker } from "../support/broker.js";
import { mesh, MESH_BIN } from "../support/cli.js";
import type { HooksEndpoint } from "../support/hooks-endpoint.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { freePort } from "../support/ports.js";
import { pngStats } from "../support/png.js";
import { childEnv, launchChromium } from "../support/browser.js";
import { until } from "../support/sidecar.js";

const OUT = fileURLToPath(new URL("../output/web/", import.meta.url));
const HOOKS_SECRET = `hooks-SECRET-${Math.random().toString(36).slice(2)}`;
const GATEWAY_SECRET = `gateway-SECRET-${Math.random().toString(36).slice(2)}`;

let m: TestMesh;
let broker: TestBroker;
let nc: NatsConnection;
let browser: Browser;
let page: Page;
let nova: ChildProcess;
let hooksA: HooksEndpoint;
let hooksB: HooksEndpoint;
let home: string;
let webConfig: string;
let webPort: number;
let web: WebProcess;
let lyraSentAt: number;
const cleanup: Array<() => Promise<unknown> | unknown> = [];

interface WebProcess {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
}

/** `mesh web` from dist, as users run it; resolves once it printed its URL. */
async function startWeb(args: string[]): Promise<WebProcess> {
  const child = spawn(process.execPath, [MESH_BIN, "web", ...args], {
    env: childEnv({ MESH_CONFIG: webConfig, MESH_HOME: home }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  cleanup.push(() => stopChild(child));
  const url = await until(`mesh web to print its URL (stderr: ${err})`, () => /web: (http\S+)/.exec(out)?.[1], 20_000);
  return { child, url, stdout: () => out, stderr: () => err };
}

/** Sends the signal and resolves with how the child ended (a graceful stop exits 0 by itself). */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return `already ended (${child.exitCode ?? child.signalCode})`;
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  child.kill(signal);
  const [code, sig] = await exited;
  return sig ? `killed by ${sig}` : `exit ${code}`;
}

/** Writes a screenshot of the page and checks it is not blank (many colours, luminance varies). */
async function shot(name: string): Promise<string> {
  const file = join(OUT, name);
  await page.screenshot({ path: file, fullPage: true });
  const s = pngStats(file);
  expect(s.width, `${name} width`).toBeGreaterThan(600);
  expect(s.colours, `${name}: distinct colours`).toBeGreaterThan(20);
  expect(s.lumaVariance, `${name}: luminance variance`).toBeGreaterThan(100);
  return file;
}

/**
 * Runs in the page: for every element with its own visible text, the WCAG contrast ratio of its
 * colour against the first opaque background behind it; returns the lowest and how many were checked.
 */
const CONTRAST_CHECK = `(() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3); } return rgb(getComputedStyle(document.documentElement).backgroundColor).slice(0, 3); };
  let worst = { ratio: 99, text: "", count: 0 };
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent.trim()).join(" ");
    if (!own || !el.getClientRects().length || el.closest(".sr-only, [hidden]") || el.classList.contains("skip") || el.closest("svg")) continue;
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    worst.count++;
    if (ratio < worst.ratio) worst = { ratio, text: own.slice(0, 60), count: worst.count };
  }
  return worst;
})()`;

/** The page's own counters (web/app.js exposes them as window.meshView.stats). */
const pageStat = (k: "errors" | "snapshots" | "batches" | "reconnects") => page.evaluate(`window.meshView.stats.${k}`) as Promise<number>;
const nodeState = (id: string) => page.locator(`li.node[data-identity="${id}"]`).getAttribute("data-state");

beforeAll(async () => {
  // A missing browser fails here, never skips (test/README.md rule 3; .ci/run installs it).
  browser = await launchChromium();
  cleanup.push(() => browser.close());
  mkdirSync(OUT, { recursive: true });
  // lyra has an inbox but never starts a sidecar: its message waits. hooksA (the stand-in) is clawd's gateway.
  m = await startMesh({ broker: { fixedPort: true }, persistent: true, provision: { identities: ["clawd", "nova", "lyra"] }, hooksToken: HOOKS_SECRET });
  cleanup.push(() => m.stop());
  ({ broker, nc, gateway: hooksA } = m);
  lyraSentAt = Date.now();
  await sendMessage(nc, { from: "clawd", to: "lyra", body: "waiting for lyra" });
  home = mkdtempSync(join(tmpdir(), "mesh-web-"));

  // Jobs on queue "fails" are refused by clawd's gateway (a 400 is final): the job fails with that reason.
  hooksA.respond = (h) => (h.body.message?.includes("(queue fails)") ? { status: 400, body: { ok: false, error: "bad agent" } } : undefined);
  await m.sidecar("clawd", {
    capabilities: ["build"],
    jobs: { queues: ["fails"] },
    presenceIntervalMs: 500,
  });

  hooksB = await m.extraGateway();
  const novaCfg = join(home, "nova.json");
  writeFileSync(
    novaCfg,
    JSON.stringify({
      identity: "nova",
      server: broker.url,
      capabilities: ["gpu"],
      gateway: { url: hooksB.url, hooksToken: hooksB.token, bridge: "hooks" },
      sidecar: { stateDir: join(home, "nova-state"), jobs: false, httpPort: 0 },
    }),
    { mode: 0o600 },
  );
  nova = spawn(process.execPath, [MESH_BIN, "sidecar"], {
    env: childEnv({ MESH_CONFIG: novaCfg, MESH_HOME: home }),
    stdio: "ignore",
  });
  cleanup.push(() => stopChild(nova, "SIGKILL"));

  // The web view's own config holds both tokens (as a real machine's does): none may reach the page.
  webConfig = join(home, "config.json");
  writeFileSync(
    webConfig,
    JSON.stringify({ identity: "clawd", server: broker.url, gateway: { url: hooksA.url, hooksToken: HOOKS_SECRET, token: GATEWAY_SECRET } }),
    { mode: 0o600 },
  );
  webPort = await freePort();
  web = await startWeb(["--port", String(webPort), "--stale-after", "9s", "--offline-after", "15s"]);

  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(web.url);
}, 120_000);

afterAll(async () => {
  for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => undefined);
});

describe("mesh web in Chromium", () => {
  it("a blank page is judged blank by the screenshot check (so a passing check means content)", async () => {
    const blank = await browser.newPage({ viewport: { width: 800, height: 600 } });
    const file = join(OUT, "00-blank-control.png");
    await blank.setContent("<html><body style='background:#fff'></body></html>");
    await blank.screenshot({ path: file });
    await blank.close();
    const s = pngStats(file);
    expect(s.colours).toBe(1);
    expect(s.lumaVariance).toBeLessThan(1e-6);
  });

  it("shows both peers online with host, capabilities, gateway state and bridge, and a third identity's waiting message with its time", async () => {
    await page.locator('li.node[data-identity="clawd"][data-state="online"]').waitFor({ timeout: 20_000 });
    await page.locator('li.node[data-identity="nova"][data-state="online"]').waitFor({ timeout: 20_000 });
    const field = (id: string, f: string) => page.locator(`li.node[data-identity="${id}"] dd[data-field="${f}"]`).textContent();
    expect(await field("clawd", "host")).toBe(hostname());
    expect(await field("nova", "host")).toBe(hostname());
    expect(await field("clawd", "capabilities")).toBe("build");
    expect(await field("nova", "capabilities")).toBe("gpu");
    expect(await field("clawd", "bridge")).toBe("openclaw-hooks");
    expect(await field("nova", "bridge")).toBe("openclaw-hooks");
    // nova's gateway state is "unknown" until its first delivery: deliver one, then it must read "up".
    await sendMessage(nc, { from: "clawd", to: "nova", body: "so nova's gateway state is known" });
    await page.locator('li.node[data-identity="nova"] dd[data-field="gateway"]', { hasText: /^up$/ }).waitFor({ timeout: 15_000 });
    expect(await field("nova", "gateway")).toBe("up");
    // Inbox depth of each identity (an open mesh: every inbox consumer is readable).
    expect(await field("nova", "inbox")).toMatch(/^0 waiting, 0 in flight/);
    // An identity with an inbox and no sidecar: offline, its message waiting since it was sent.
    await page.locator('li.node[data-identity="lyra"] dd[data-field="inbox"]', { hasText: "1 waiting" }).waitFor({ timeout: 10_000 });
    expect(await nodeState("lyra")).toBe("offline");
    const lyraInbox = await field("lyra", "inbox");
    const since = /^1 waiting, 0 in flight; oldest since (\d\d):(\d\d):(\d\d)$/.exec(lyraInbox ?? "");
    expect(since, `lyra inbox: ${lyraInbox}`).not.toBeNull();
    const sentClock = new Date(lyraSentAt);
    const shownSecs = Number(since![1]) * 3600 + Number(since![2]) * 60 + Number(since![3]);
    const sentSecs = sentClock.getHours() * 3600 + sentClock.getMinutes() * 60 + sentClock.getSeconds();
    expect(Math.abs(shownSecs - sentSecs)).toBeLessThanOrEqual(1);
    expect(await page.locator("#conn").getAttribute("data-state")).toBe("live");
    await shot("01-peers-online.png");
  });

  it("a message appears as a flowing message (the time from send to DOM is printed, not asserted), then delivered; its body only when revealed (keyboard)", async () => {
    const body = `hello nova ${Date.now()}`;
    const t0 = Date.now();
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body });
    const row = page.locator(`tr[data-flow-id="${sent.envelope.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    // A timing on a shared 2-core machine is for the benchmarks (npm run bench:web), not an assertion.
    console.log(`send → on the page: ${Date.now() - t0} ms`);
    expect(await row.locator("td").nth(1).textContent()).toBe("clawd → nova");
    expect(await row.locator("td").nth(2).textContent()).toBe("message");
    expect(await row.locator("td").nth(3).textContent()).toMatch(/^\d+ B$/);
    await page.locator(`tr[data-flow-id="${sent.envelope.id}"][data-state="delivered"]`).waitFor({ timeout: 10_000 });
    expect(await page.content()).not.toContain(body);
    const reveal = row.locator("button[data-reveal]");
    await reveal.focus();
    await page.keyboard.press("Enter");
    await page.locator(`tr[data-flow-id="${sent.envelope.id}"] pre.body`).waitFor({ timeout: 5000 });
    expect(await page.locator(`tr[data-flow-id="${sent.envelope.id}"] pre.body`).textContent()).toBe(body);
    expect(await page.locator(`tr[data-flow-id="${sent.envelope.id}"] button[data-reveal]`).getAttribute("aria-expanded")).toBe("true");

    // The real CLI: `mesh send` prints the id; the page shows it.
    const r = await mesh(["send", "nova", "from the CLI", "--server", broker.url, "--identity", "clawd"]);
    expect(r.stderr).toBe("");
    const id = /sent (\S+) to nova/.exec(r.stdout)?.[1];
    expect(id).toBeDefined();
    await page.locator(`tr[data-flow-id="${id}"][data-state="delivered"]`).waitFor({ timeout: 10_000 });
    await page.locator("#count-delivered").filter({ hasText: /^[1-9]/ }).waitFor({ timeout: 5000 });
    await shot("02-message-flow.png");
  });

  it("a message the gateway keeps refusing with 503 shows retried, then delivered; one it rejects with 400 shows dead-lettered with the reason", async () => {
    // The first 3 POSTs of that message are refused (by count, not by a time window a loaded machine can miss).
    let refusals = 0;
    hooksB.respond = (h) =>
      h.body.message?.includes("try again later") && refusals++ < 3
        ? { status: 503, body: { ok: false, error: "busy" } }
        : h.body.message?.includes("reject me")
          ? { status: 400, body: { ok: false, error: "bad message" } }
          : undefined;
    try {
      const retried = await sendMessage(nc, { from: "clawd", to: "nova", body: "try again later" });
      await page.locator(`tr[data-flow-id="${retried.envelope.id}"][data-state="retried"]`).waitFor({ timeout: 5000 });
      expect(await page.locator(`tr[data-flow-id="${retried.envelope.id}"] .reason`).textContent()).toMatch(/503/);
      await page.locator(`tr[data-flow-id="${retried.envelope.id}"][data-state="delivered"]`).waitFor({ timeout: 15_000 });
      const rejected = await sendMessage(nc, { from: "clawd", to: "nova", body: "reject me" });
      const row = page.locator(`tr[data-flow-id="${rejected.envelope.id}"][data-state="dead-lettered"]`);
      await row.waitFor({ timeout: 10_000 });
      const reason = await row.locator(".reason").textContent();
      expect(reason).toMatch(/400/);
      await page.locator("#dlq li", { hasText: reason! }).waitFor({ timeout: 5000 });
      await page.locator("#count-dead").filter({ hasText: /^[1-9]/ }).waitFor({ timeout: 5000 });
    } finally {
      hooksB.respond = undefined;
    }
  });

  it("a failing job appears as failed with its reason, and its dead letter with the reason", async () => {
    const job = await submitJob(nc, { from: "clawd", task: "doomed", queue: "fails", maxAttempts: 1 });
    const done = await waitForJob(nc, job.id, 30_000);
    expect(done).toMatchObject({ state: "failed", error: "HTTP 400 bad agent" });
    const row = page.locator(`tr[data-job-id="${job.id}"][data-state="failed"]`);
    await row.waitFor({ timeout: 5000 });
    expect(await row.locator("td.reason").textContent()).toBe("HTTP 400 bad agent");
    expect(await row.locator("td").nth(3).textContent()).toBe("clawd");
    await page.locator("#dlq li", { hasText: "HTTP 400 bad agent" }).waitFor({ timeout: 5000 });
    expect(await page.locator("#dlq li", { hasText: "HTTP 400 bad agent" }).first().textContent()).toContain("clawd/jobs");
    await shot("03-job-failed.png");
  });

  it("malformed events on the bus are shown as unreadable events and counted; the page keeps working", async () => {
    const before = Number(await page.locator("#count-unreadable").textContent());
    const eventsBefore = Number(await page.locator("#count-events").textContent());
    nc.publish("events.nova.x", new TextEncoder().encode("not json{"));
    nc.publish("events.nova.y", new TextEncoder().encode(JSON.stringify({ hello: "world" })));
    nc.publish(eventSubject("nova", "message", "delivered"), encodeEnvelope(newEnvelope({ from: "nova", to: "*", kind: "event", type: "message.delivered", body: { id: 7 } })));
    await page.locator("#count-unreadable").filter({ hasText: String(before + 3) }).waitFor({ timeout: 5000 });
    expect(Number(await page.locator("#count-events").textContent())).toBeGreaterThanOrEqual(eventsBefore + 3);
    const items = page.locator('#activity li[data-unreadable="true"]');
    expect(await items.count()).toBeGreaterThanOrEqual(3);
    expect(await items.first().textContent()).toContain("unreadable event");
    expect(await pageStat("errors")).toBe(0);
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "still alive?" });
    await page.locator(`tr[data-flow-id="${sent.envelope.id}"]`).waitFor({ timeout: 2000 });
    await shot("04-unreadable-events.png");
  });

  it("accessible: landmarks and headings, the skip link is the first Tab stop, and every text has WCAG AA contrast (4.5:1) in light and in dark", async () => {
    expect(await page.locator("header[role=banner], main#main, footer[role=contentinfo]").count()).toBe(3);
    expect(await page.locator("main section[aria-labelledby] > h2").count()).toBe(7);
    expect(await page.locator("#flow").getAttribute("aria-live")).toBe("polite");
    // A fresh load (the page starts over from a snapshot), then the first Tab.
    await page.reload();
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await page.locator('li.node[data-identity="nova"]').waitFor({ timeout: 10_000 });
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement.className")).toBe("skip");
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      const worst = (await page.evaluate(CONTRAST_CHECK)) as { ratio: number; text: string; count: number };
      console.log(`${scheme}: ${worst.count} text elements, lowest contrast ${worst.ratio.toFixed(2)}:1 (${JSON.stringify(worst.text)})`);
      expect(worst.count).toBeGreaterThan(50);
      expect(worst.ratio, `${scheme}: ${worst.text}`).toBeGreaterThanOrEqual(4.5);
      await shot(`08-${scheme}.png`);
    }
    await page.emulateMedia({ colorScheme: "light" });
    await page.evaluate("document.activeElement.blur()");
  });

  it("stopping a sidecar (SIGKILL) turns its node stale, then offline", async () => {
    expect(await nodeState("nova")).toBe("online");
    const killedAt = Date.now();
    expect(await stopChild(nova, "SIGKILL")).toBe("killed by SIGKILL");
    await page.locator('li.node[data-identity="nova"][data-state="stale"]').waitFor({ timeout: 15_000 });
    const staleAt = Date.now();
    await shot("05-node-stale.png");
    await page.locator('li.node[data-identity="nova"][data-state="offline"]').waitFor({ timeout: 15_000 });
    const offlineAt = Date.now();
    console.log(`nova killed → stale after ${staleAt - killedAt} ms → offline after ${offlineAt - killedAt} ms`);
    expect(offlineAt).toBeGreaterThan(staleAt);
    expect(await nodeState("clawd")).toBe("online");
    await shot("06-node-offline.png");
  });

  it("after the web process restarts on the same port, the page reconnects by itself and shows a message sent afterwards", async () => {
    const snapshotsBefore = await pageStat("snapshots");
    expect(await stopChild(web.child)).toBe("exit 0");
    expect(web.stdout()).toContain("SIGTERM: stopping");
    await page.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: 10_000 });
    web = await startWeb(["--port", String(webPort), "--stale-after", "9s", "--offline-after", "15s"]);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 15_000 });
    const snapshotsAfter = await pageStat("snapshots");
    expect(snapshotsAfter).toBe(snapshotsBefore + 1);
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "after the restart" });
    await page.locator(`tr[data-flow-id="${sent.envelope.id}"]`).waitFor({ timeout: 2000 });
  });

  it("after a broker restart the web process reconnects by itself and the page shows a message sent afterwards", async () => {
    await page.locator('#broker[data-state="connected"]').waitFor({ timeout: 5000 });
    const restart = broker.restart();
    await page.locator('#broker[data-state="reconnecting"]').waitFor({ timeout: 30_000 });
    await restart;
    await page.locator('#broker[data-state="connected"]').waitFor({ timeout: 30_000 });
    const sent = await until("a send after the broker restart", () =>
      sendMessage(nc, { from: "clawd", to: "nova", body: "after the broker restart" }).catch(() => undefined),
    );
    await page.locator(`tr[data-flow-id="${sent.envelope.id}"]`).waitFor({ timeout: 5000 });
    expect(await page.locator("#conn").getAttribute("data-state")).toBe("live");
    await shot("07-after-broker-restart.png");
  });

  it("no gateway token or hooks token is in any page, API or SSE response (the web process's config holds both)", async () => {
    const cfg = readFileSync(webConfig, "utf8");
    expect(cfg).toContain(HOOKS_SECRET);
    expect(cfg).toContain(GATEWAY_SECRET);
    const texts: string[] = [];
    for (const path of ["/", "/index.html", "/app.js", "/style.css", "/api/state"]) {
      const res = await fetch(new URL(path, web.url));
      expect(res.status, path).toBe(200);
      texts.push(await res.text());
    }
    const state = JSON.parse(texts.at(-1)!) as { flows: Array<{ id: string; body: string }> };
    const revealable = state.flows.filter((f) => f.body === "hidden");
    expect(revealable.length).toBeGreaterThan(0);
    for (const f of revealable) {
      const res = await fetch(new URL(`/api/body/${f.id}`, web.url));
      expect(res.status).toBe(200);
      texts.push(await res.text());
    }
    // The SSE stream while a message flows and events arrive.
    const ctl = new AbortController();
    const sse = await fetch(new URL("/events", web.url), { signal: ctl.signal });
    expect(sse.headers.get("content-type")).toBe("text/event-stream");
    const reader = sse.body!.getReader();
    let streamed = "";
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        streamed += new TextDecoder().decode(value);
      }
    })().catch(() => undefined);
    const sent = await sendMessage(nc, { from: "clawd", to: "nova", body: "over SSE" });
    await until("the message on the SSE stream", () => streamed.includes(sent.envelope.id) && streamed.includes('"delivered"'), 10_000);
    ctl.abort();
    await reading;
    texts.push(streamed);
    expect(streamed).toContain("event: snapshot");
    expect(streamed).toContain("event: batch");
    for (const t of texts) {
      expect(t).not.toContain(HOOKS_SECRET);
      expect(t).not.toContain(GATEWAY_SECRET);
    }
    console.log(`checked ${texts.length} responses (${texts.reduce((n, t) => n + t.length, 0)} characters) for both tokens`);
  });

  it("read-only, and on loopback only a loopback Host header is served (no DNS rebinding)", async () => {
    const post = await fetch(new URL("/api/state", web.url), { method: "POST" });
    expect(post.status).toBe(405);
    const rebound = await new Promise<number>((resolve, reject) => {
      import("node:http").then(({ get }) =>
        get({ host: "127.0.0.1", port: webPort, path: "/api/state", headers: { host: `evil.example:${webPort}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on("error", reject),
      );
    });
    expect(rebound).toBe(421);
  });

  it("a second mesh web on the same port exits 1 with one line saying so", async () => {
    const r = await mesh(["web", "--port", String(webPort)], { env: { MESH_CONFIG: webConfig, MESH_HOME: home } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`mesh: port ${webPort} on 127.0.0.1 is in use (another mesh web?): pass --port\n`);
  });
});

describe("mesh web --host (off loopback)", () => {
  it("warns, prints a generated token, refuses requests without it (401), turns ?token= into an HttpOnly cookie, and accepts a Bearer header", async () => {
    const port = await freePort();
    const exposed = await startWeb(["--host", "0.0.0.0", "--port", String(port)]);
    expect(exposed.stderr()).toContain("WARNING: listening on 0.0.0.0");
    const token = /\?token=([A-Za-z0-9_-]+)/.exec(exposed.stdout())?.[1];
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/events`)).status).toBe(401);
    expect((await fetch(`${base}/api/state?token=wrong`)).status).toBe(401);
    expect((await fetch(`${base}/api/state`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(`${base}/api/state`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const first = await fetch(`${base}/?token=${token}`, { redirect: "manual" });
    expect(first.status).toBe(303);
    expect(first.headers.get("location")).toBe("/");
    expect(first.headers.get("set-cookie")).toMatch(/^mesh_web_token=[^;]+; HttpOnly; SameSite=Strict; Path=\/$/);
    // In the browser: the token URL once, then the cookie carries the page and its live stream.
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    await p.goto(`${base}/?token=${token}`);
    expect(new URL(p.url()).search).toBe("");
    await p.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await p.locator('li.node[data-identity="clawd"]').waitFor({ timeout: 10_000 });
    await ctx.close();
    expect(await stopChild(exposed.child)).toBe("exit 0");
  });
});
