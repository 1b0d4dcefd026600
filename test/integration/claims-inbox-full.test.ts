/**
 * README (Broker design, INBOX): each sender has its own share of an inbox; when it is full, that
 * sender's new messages are refused (the sender sees the server's error) rather than unread ones
 * silently dropped, and other senders still get in. Provisioned with a share of SHARE messages
 * (IdentityLimits.inboxPerSender; 1 000 by default) and filled with `mesh send`.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiscardPolicy, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { provisionIdentity } from "../../broker/provision.js";
import { DEFAULT_IDENTITY_LIMITS } from "../../broker/definitions.js";
import { inboxStreamName } from "../../subjects/names.js";
import { inboxSubject } from "../../subjects/mod.js";
import { mesh } from "../support/cli.js";
import { startMesh, type TestMesh } from "../support/mesh.js";
import { storedEnvelopes } from "../support/sidecar.js";

let m: TestMesh;
let nc: NatsConnection;
let env: Record<string, string>;
const SHARE = 8;

beforeAll(async () => {
  m = await startMesh();
  nc = m.nc;
  await provisionIdentity(await jetstreamManager(nc), "nova", { limits: { ...DEFAULT_IDENTITY_LIMITS, inboxPerSender: SHARE } });
  env = { MESH_SERVER: m.broker.url, MESH_HOME: mkdtempSync(join(tmpdir(), "mesh-home-")), MESH_IDENTITY: "clawd" };
});

afterAll(async () => {
  await m?.stop();
});

describe("INBOX when one sender's share is full", () => {
  it("discard new per lane: once clawd's share is used `mesh send` exits 1 with the server's 'maximum messages per subject exceeded', everything clawd stored before is still there in order, and lyra still gets in", async () => {
    const info = await (await jetstreamManager(nc)).streams.info(inboxStreamName("nova"));
    expect({ discard: info.config.discard, perSubject: info.config.discard_new_per_subject, max: info.config.max_msgs_per_subject }).toEqual({
      discard: DiscardPolicy.New,
      perSubject: true,
      max: SHARE,
    });
    const accepted: string[] = [];
    let refused: { code: number; stderr: string } | undefined;
    for (let i = 0; i < SHARE + 3 && !refused; i++) {
      const r = await mesh(["send", "nova", `#${i}`, "--json"], { env });
      if (r.code === 0) accepted.push((JSON.parse(r.stdout) as { id: string }).id);
      else refused = r;
    }
    expect(refused, `${SHARE + 3} sent into a share of ${SHARE} and nothing was refused`).toBeDefined();
    expect(refused!.code).toBe(1);
    expect(refused!.stderr).toMatch(/^mesh: nova's inbox did not take it: .*maximum messages per subject exceeded/);
    expect(refused!.stderr.trim().split("\n")).toHaveLength(1);
    expect(accepted).toHaveLength(SHARE);
    const stored = await storedEnvelopes(nc, inboxStreamName("nova"), inboxSubject("nova", "clawd"));
    expect(stored.map((e) => e.id)).toEqual(accepted);
    // Another sender's lane is its own share: lyra gets in while clawd's is full.
    const lyra = await mesh(["send", "nova", "from lyra", "--json"], { env: { ...env, MESH_IDENTITY: "lyra" } });
    expect(lyra.code, lyra.stderr).toBe(0);
    const lyraStored = await storedEnvelopes(nc, inboxStreamName("nova"), inboxSubject("nova", "lyra"));
    expect(lyraStored.map((e) => e.body)).toEqual(["from lyra"]);
    // Still full for clawd: nothing old was dropped to make room.
    const again = await mesh(["send", "nova", "again"], { env });
    expect(again.code).toBe(1);
    expect((await storedEnvelopes(nc, inboxStreamName("nova"), inboxSubject("nova", "clawd"))).map((e) => e.id)).toEqual(accepted);
  });
});
