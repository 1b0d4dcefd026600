/**
 * README (Broker design, INBOX): "When full, new messages are refused (the sender sees an error)
 * rather than unread ones silently dropped" (discard new). The stream is provisioned from its
 * definition, then only its max_bytes is lowered (2 GiB cannot be filled in a test; nothing in the
 * mesh configures it), and filled with `mesh send`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiscardPolicy, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { identityStreamDefinitions } from "../../broker/definitions.js";
import { inboxStreamName } from "../../subjects/names.js";
import { inboxSubject } from "../../subjects/mod.js";
import { startBroker, type TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { storedEnvelopes } from "../support/sidecar.js";

let broker: TestBroker;
let nc: NatsConnection;
let env: Record<string, string>;
const LIMIT = 16 * 1024;

beforeAll(async () => {
  broker = await startBroker();
  nc = await connectMesh({ server: broker.url });
  await provision(nc, { identities: ["nova"] });
  const def = identityStreamDefinitions("nova").find((d) => d.name === inboxStreamName("nova"))!;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.update(inboxStreamName("nova"), { ...def, max_bytes: LIMIT });
  env = { MESH_SERVER: broker.url, MESH_HOME: mkdtempSync(join(tmpdir(), "mesh-home-")), MESH_IDENTITY: "clawd" };
});

afterAll(async () => {
  await nc?.close();
  await broker?.stop();
});

describe("INBOX when full", () => {
  it("discard new: once max_bytes is reached `mesh send` exits 1 with the server's 'maximum bytes exceeded', and every message stored before is still there, oldest first", async () => {
    const info = await (await jetstreamManager(nc)).streams.info(inboxStreamName("nova"));
    expect({ discard: info.config.discard, max_bytes: info.config.max_bytes }).toEqual({ discard: DiscardPolicy.New, max_bytes: LIMIT });
    const body = "x".repeat(1024);
    const accepted: string[] = [];
    let refused: { code: number; stderr: string } | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = await mesh(["send", "nova", `${i} ${body}`, "--json"], { env });
      if (r.code === 0) accepted.push((JSON.parse(r.stdout) as { id: string }).id);
      else refused = r;
    }
    expect(refused, "40 KiB sent into a 16 KiB inbox and nothing was refused").toBeDefined();
    expect(refused!.code).toBe(1);
    expect(refused!.stderr).toMatch(/^mesh: .*maximum bytes exceeded/);
    expect(refused!.stderr.trim().split("\n")).toHaveLength(1);
    expect(accepted.length).toBeGreaterThan(5);
    const stored = await storedEnvelopes(nc, inboxStreamName("nova"), inboxSubject("nova"));
    expect(stored.map((e) => e.id)).toEqual(accepted);
    // Still full: the next one of the same size is refused too (nothing old was dropped to make room).
    const again = await mesh(["send", "nova", `again ${body}`], { env });
    expect(again.code).toBe(1);
    expect((await storedEnvelopes(nc, inboxStreamName("nova"), inboxSubject("nova"))).map((e) => e.id)).toEqual(accepted);
  });
});
