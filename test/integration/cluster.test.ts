import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { sendMessage } from "../../src/bus/publish.js";
import { startCluster, type TestCluster } from "../support/broker.js";

let cluster: TestCluster;
let nc: NatsConnection;

beforeAll(async () => {
  cluster = await startCluster();
  nc = await connectMesh({ server: cluster.url, persistent: true, name: "cluster-test" });
  // JetStream needs a meta leader before streams can be created.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await provision(nc, { replicas: 3, identities: ["nova"] });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

describe("3-node JetStream cluster", () => {
  it("replicated streams keep accepting messages with one node stopped", async () => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("INBOX-nova");
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas?.length).toBe(2);

    for (let i = 0; i < 5; i++) await sendMessage(nc, { from: "clawd", to: "nova", body: `before ${i}` });
    await cluster.nodes[0]!.stop();
    const acked: number[] = [];
    const deadline = Date.now() + 30_000;
    for (let i = 0; i < 20; ) {
      try {
        acked.push((await sendMessage(nc, { from: "clawd", to: "nova", body: `after ${i}` })).seq!);
        i++;
      } catch (err) {
        // A short pause while a new leader is elected is allowed; then publishing must resume.
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    expect(acked).toHaveLength(20);
    const after = await jsm.streams.info("INBOX-nova");
    expect(after.state.messages).toBe(25);
    // Every acknowledged message is readable with the node still down.
    const js = jetstream(nc);
    const c = await js.consumers.get("INBOX-nova", "inbox-nova");
    const bodies: string[] = [];
    const it = await c.fetch({ max_messages: 25, expires: 5000 });
    for await (const m of it) {
      bodies.push((m.json() as { body: string }).body);
      m.ack();
    }
    expect(bodies).toEqual([...Array(5).keys()].map((i) => `before ${i}`).concat([...Array(20).keys()].map((i) => `after ${i}`)));
  });
});
