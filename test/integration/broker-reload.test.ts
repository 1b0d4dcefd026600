/**
 * retryWhileReloading (broker/after-reload.ts) against a real nats-server whose JetStream API is
 * absent and then comes back with a config reload (SIGHUP), the situation a reload that changes
 * users makes for a moment on 2.9 (nats-server#1736).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { retryWhileReloading } from "../../broker/after-reload.js";
import { findNatsServer, waitForPort } from "../../broker/local.js";
import { freePort } from "../support/ports.js";

describe("admin steps across a broker reload (real nats-server)", () => {
  let dir: string;
  let conf: string;
  let port: number;
  let server: ChildProcess;
  let nc: NatsConnection;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mesh-reload-"));
    conf = join(dir, "server.conf");
    port = await freePort();
    writeFileSync(conf, `port: ${port}\nhost: 127.0.0.1\n`);
    server = spawn(findNatsServer(), ["-c", conf], { stdio: "ignore" });
    await waitForPort("127.0.0.1", port, 10_000);
    nc = await connect({ servers: `127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await nc?.close();
    server?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("while the JetStream API has no responders the step fails with nats.js's JetStreamNotEnabled and is run again until withinMs, then that error is thrown", async () => {
    let calls = 0;
    const err = await retryWhileReloading(async () => {
      calls++;
      return jetstreamManager(nc);
    }, 600).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe("jetstream is not enabled");
    expect(calls).toBeGreaterThan(2);
  });

  it("an error other than JetStreamNotEnabled is thrown at once, not retried", async () => {
    let calls = 0;
    const err = await retryWhileReloading(async () => {
      calls++;
      throw new Error("some other failure");
    }, 5000).catch((e: unknown) => e);
    expect((err as Error).message).toBe("some other failure");
    expect(calls).toBe(1);
  });

  it("a stream create started before the reload that brings the JetStream API back succeeds once the server answers", async () => {
    let calls = 0;
    const done = retryWhileReloading(async () => {
      calls++;
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "RELOADED", subjects: ["reloaded.>"] });
      return calls;
    }, 20_000);
    await new Promise((r) => setTimeout(r, 400));
    const before = calls;
    expect(before).toBeGreaterThan(1);
    writeFileSync(conf, `port: ${port}\nhost: 127.0.0.1\njetstream { store_dir: "${join(dir, "js")}" }\n`);
    server.kill("SIGHUP");
    expect(await done).toBeGreaterThan(before);
    const info = await (await jetstreamManager(nc)).streams.info("RELOADED");
    expect(info.config.subjects).toEqual(["reloaded.>"]);
  });
});
