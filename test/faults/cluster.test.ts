/**
 * 4. A 3-node cluster with replicated streams: one node stopped, then one node cut from the
 * network and healed. Publishers keep going (after at most a short pause); nothing acknowledged is lost.
 */
import { describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { parseEnvelope } from "../../subjects/mod.js";
import { startCluster } from "../support/broker.js";
import { stream } from "./stream.js";
import { record } from "./tally.js";

describe("faults: cluster", () => {
  it("4. node stopped, node cut from the network and healed", async () => {
    const cluster = await startCluster();
    // The publisher stays on n3, which is never stopped or cut: what is measured is the cluster's own
    // pause (leader elections, catch-up), not the client's reconnect to another node.
    const nc = await connectMesh({ server: cluster.nodes[2]!.url, persistent: true });
    try {
    for (let i = 0; ; i++) {
      try {
        await provision(nc, { replicas: 3, identities: ["f4"] });
        break;
      } catch (err) {
        if (i > 60) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const events: string[] = [];
    const r = await stream(nc, {
      to: "f4",
      n: 600,
      ratePerSec: 40,
      senders: ["a", "b"],
      during: async (i) => {
        if (i === 80) {
          await cluster.nodes[0]!.stop();
          events.push("n1 stopped");
        }
        if (i === 240) {
          await cluster.nodes[0]!.start();
          events.push("n1 started");
        }
        if (i === 320 && cluster.nodes[1]!.cut) {
          cluster.nodes[1]!.cut();
          events.push("n2 cut");
        }
        if (i === 480 && cluster.nodes[1]!.heal) {
          cluster.nodes[1]!.heal();
          events.push("n2 healed");
        }
      },
    });
    // Read everything back through the durable consumer.
    const js = jetstream(nc);
    const c = await js.consumers.get("INBOX", "inbox-f4");
    const seen: string[] = [];
    for (let round = 0; round < 20 && seen.length < r.acked.length; round++) {
      const batch = await c.fetch({ max_messages: 200, expires: 3000 });
      for await (const m of batch) {
        const key = /#([^#]+)#/.exec(String(parseEnvelope(m.data).body))?.[1];
        if (key) seen.push(key);
        m.ack();
      }
    }
    const unique = new Set(seen);
    const lost = r.acked.filter((k) => !unique.has(k)).length;
    record({
      scenario: "4. 3-node cluster: node stopped, node partitioned",
      sent: r.sent,
      acknowledged: r.acked.length,
      delivered: unique.size,
      duplicates: seen.length - unique.size,
      lost,
      notes: `${cluster.kind}; ${events.join(", ")}; publisher on n3; longest publish pause ${r.maxPauseMs} ms; stream R3 (delivered = read back through the durable consumer)`,
    });
    expect(lost).toBe(0);
    expect(seen.length - unique.size).toBe(0);
    } finally {
      await nc.close();
      await cluster.stop();
    }
  });
});
