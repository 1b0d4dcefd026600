import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isListening } from "../../broker/local.js";
import { MESH_BIN, mesh } from "../support/cli.js";
import { freePort } from "../support/ports.js";

function waitFor(read: () => string, re: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (re.test(read())) {
        clearInterval(t);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(t);
        reject(new Error(`timed out waiting for ${re}; output so far:\n${read()}`));
      }
    }, 50);
  });
}

describe("mesh up (embedded broker)", () => {
  it("starts a local broker when none answers, provisions it, prints the web view's URL (which answers), and stops it on Ctrl-C", async () => {
    const port = await freePort();
    const webPort = await freePort();
    const home = mkdtempSync(join(tmpdir(), "mesh-up-"));
    const env = { ...process.env, MESH_HOME: home, MESH_SERVER: `nats://127.0.0.1:${port}`, MESH_IDENTITY: "clawd", MESH_LOG_LEVEL: "warn" };
    const child = spawn(process.execPath, [MESH_BIN, "up", "--web-port", String(webPort)], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out, /mesh is up/, 30_000);
      expect(out).toMatch(new RegExp(`broker: started nats://127\\.0\\.0\\.1:${port} \\(embedded nats-server`));
      expect(out).toMatch(/stream INBOX-clawd created/);
      expect(out).toContain(`web: http://127.0.0.1:${webPort}/\n`);
      const state = (await (await fetch(`http://127.0.0.1:${webPort}/api/state`)).json()) as { self: string; broker: { status: string } };
      expect(state).toMatchObject({ self: "clawd", broker: { status: "connected" } });

      const sent = await mesh(["send", "nova", "hello"], { env: { MESH_HOME: home, MESH_SERVER: env.MESH_SERVER, MESH_IDENTITY: "clawd" } });
      expect(sent.code, sent.stderr).toBe(0);
      const seen = await mesh(["sub", "agent.nova.inbox", "--last", "1", "--count", "1"], { env: { MESH_HOME: home, MESH_SERVER: env.MESH_SERVER } });
      expect(seen.stdout).toMatch(/message clawd → nova: hello/);
      expect(readFileSync(join(home, "broker", "nats-server.conf"), "utf8")).toMatch(/jetstream/);
    } finally {
      child.kill("SIGINT");
      await new Promise((r) => child.once("exit", r));
    }
    expect(out).toMatch(/SIGINT: shutting down/);
    expect(child.exitCode).toBe(0);
    expect(await isListening("127.0.0.1", port)).toBe(false);
    expect(await isListening("127.0.0.1", webPort)).toBe(false);
  });

  it("no half-start: with the web port taken, mesh up exits 1 with one line naming the port, and stops the broker it had started", async () => {
    const port = await freePort();
    const webPort = await freePort();
    const blocker = createServer(() => undefined);
    await new Promise<void>((r) => blocker.listen(webPort, "127.0.0.1", () => r()));
    const home = mkdtempSync(join(tmpdir(), "mesh-up-"));
    const env = { ...process.env, MESH_HOME: home, MESH_SERVER: `nats://127.0.0.1:${port}`, MESH_IDENTITY: "clawd", MESH_LOG_LEVEL: "warn" };
    const child = spawn(process.execPath, [MESH_BIN, "up", "--web-port", String(webPort)], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    try {
      const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
      expect(out).toMatch(new RegExp(`broker: started nats://127\\.0\\.0\\.1:${port}`));
      expect(code).toBe(1);
      expect(err).toBe(`mesh: the web view's port 127.0.0.1:${webPort} is not available (EADDRINUSE): pass --web-port <port>, or --no-web\n`);
      expect(out).not.toMatch(/mesh is up/);
      expect(await isListening("127.0.0.1", port)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      blocker.close();
    }
  });
});

