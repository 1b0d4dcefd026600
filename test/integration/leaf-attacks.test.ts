/**
 * Leaf mode from the attacker's side (README "Offline-first Macs", Security). What the hub enforces
 * on a Mac's leaf link is asserted with the server's own words: its -ERR line, or its monitoring
 * endpoint's list of what it accepted from the leaf. What it does not enforce (gotcha 6 of the
 * offline-first note) is shown as what a hostile Mac can still do, and how it shows.
 */
import { readFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import { errors } from "@nats-io/nats-core";
import { HUB_DOMAIN } from "../../subjects/names.js";
import { startLeafMesh, type LeafMesh } from "../support/leaf-mesh.js";
import { readRegistry } from "../../broker/auth.js";
import { consumersOf } from "../../broker/leaf-provision.js";
import { connectMesh } from "../../src/bus/connection.js";
import { until } from "../support/sidecar.js";

let mesh: LeafMesh;
let leafPort: number;
beforeAll(async () => {
  mesh = await startLeafMesh({ nova: ["nova"], orion: ["orion"] });
  leafPort = Number(/listen: "127\.0\.0\.1:(\d+)"\n {2}advertise/.exec(readFileSync(`${mesh.hubStateDir}/nats-server.conf`, "utf8"))![1]);
}, 60_000);
afterAll(() => mesh.close());

/** A client speaking the leafnode protocol to the hub directly, as a hostile Mac could. */
async function rawLeaf(user: string, pass: string): Promise<{ text: () => string; send: (s: string) => void; sock: Socket }> {
  const sock = createConnection({ host: "127.0.0.1", port: leafPort });
  let buf = "";
  sock.on("data", (d) => (buf += d.toString()));
  await until("the hub's INFO", () => buf.startsWith("INFO"), 5000);
  sock.write(`CONNECT ${JSON.stringify({ user, pass, tls_required: false, name: "hostile", hub: false, headers: true })}\r\nPING\r\n`);
  await until("the hub's answer to CONNECT", () => buf.includes("PONG") || buf.includes("-ERR"), 5000);
  return { text: () => buf, send: (s) => sock.write(s), sock };
}

const password = (mac: string): string => readRegistry(mesh.hubStateDir).macs![mac]!.password;

describe("leaf mode: attacks on the hub through a Mac's leaf link", () => {
  it("another Mac's user with nova's password is refused by the hub: -ERR 'Authorization Violation'", async () => {
    const evil = await rawLeaf("leaf-orion", password("nova"));
    expect(evil.text()).toContain("-ERR 'Authorization Violation'");
    evil.sock.destroy();
  });

  it("nova's leaf carries none of orion's replies or request answers: the hub's /leafz lists nova's leaf subscribed to reply.nova.> and not to reply.orion.> or _INBOX_orion.>, and of orion's then nova's reply only nova's reaches a client on nova's leaf", async () => {
    const nc = await mesh.client("nova", "nova-snoop");
    const got: string[] = [];
    for (const s of ["reply.orion.>", "_INBOX_orion.>", "reply.nova.>"]) nc.subscribe(s, { callback: (_e, m) => void got.push(m.subject) });
    await nc.flush();
    const leafz = async () =>
      ((await (await fetch(`${mesh.hub.monitorUrl}/leafz?subs=1`)).json()) as { leafs: Array<{ subscriptions_list?: string[] }> }).leafs.map((l) => l.subscriptions_list ?? []);
    const nova = await until("nova's leaf's reply.nova.> on the hub", async () => (await leafz()).find((subs) => subs.includes("reply.nova.>")), 10_000);
    expect(nova.filter((s) => s.includes("orion"))).toEqual([]);
    // One publisher, in order: had the first two crossed the link, they would have arrived before the third.
    mesh.admin.publish("reply.orion.secret", "orion's answer");
    mesh.admin.publish("_INBOX_orion.secret", "orion's request answer");
    mesh.admin.publish("reply.nova.control", "nova's answer");
    await until("nova's own reply", () => got.includes("reply.nova.control"), 10_000);
    expect(got).toEqual(["reply.nova.control"]);
  });

  it("the outbox trim's grant, from nova's side: a client on nova's leaf reads the counts of orion's hub inbox (STREAM.INFO), and a message get or a consumer on it is answered by nova's leaf server with no responders at once (the link carries neither)", async () => {
    const nc = await connectMesh({ server: mesh.macs.nova!.leaf.url, hubDomain: HUB_DOMAIN, identity: "nova", persistent: true, name: "nova-trim-grant" });
    try {
      const hub = await jetstreamManager(nc, { domain: HUB_DOMAIN, checkAPI: false, timeout: 5_000 });
      const info = await hub.streams.info("INBOX-orion");
      expect(info.config.name).toBe("INBOX-orion");
      expect(typeof info.state.messages).toBe("number");
      for (const attempt of [() => hub.streams.getMessage("INBOX-orion", { seq: 1 }), () => hub.consumers.add("INBOX-orion", { name: "snoop" })]) {
        const t0 = Date.now();
        const err = await attempt().then(() => undefined, (e: unknown) => e);
        // nats.js's JetStreamNotEnabled, caused by the 503 no-responders status nova's leaf answers with.
        expect(err).toBeInstanceOf(jserrors.JetStreamNotEnabled);
        expect(((err as Error).cause as InstanceType<typeof errors.RequestError>).isNoResponders()).toBe(true);
        expect(Date.now() - t0).toBeLessThan(4_000);
      }
    } finally {
      await nc.close();
    }
  });

  it("what a hostile Mac can still do (gotcha 6): a leaf-protocol client with nova's leaf credential asks the hub's JetStream about orion's inbox and creates a consumer on it, which nova's identity credential on a plain connection may not (Permissions Violation); the consumer shows in the hub's consumer list", async () => {
    const plain = await connectMesh({ server: mesh.hub.url, creds: `${mesh.hubStateDir}/creds/nova.nk`, identity: "nova" });
    const denied = new Promise<string>((resolve) => {
      void (async () => {
        for await (const s of plain.status()) if (s.type === "error") resolve(String((s as { error?: Error }).error?.message ?? ""));
      })();
    });
    plain.publish("$JS.API.STREAM.INFO.INBOX-orion");
    expect(await denied).toContain('Permissions Violation for Publish to "$JS.API.STREAM.INFO.INBOX-orion"');
    await plain.close();

    const evil = await rawLeaf("leaf-nova", password("nova"));
    evil.send("LS+ mesh.down.nova.>\r\n");
    evil.send("LMSG $JS.hub.API.STREAM.INFO.INBOX-orion mesh.down.nova.info 2\r\n{}\r\n");
    const create = JSON.stringify({ stream_name: "INBOX-orion", config: { deliver_subject: "mesh.down.nova.stolen", ack_policy: "none", deliver_policy: "all" } });
    evil.send(`LMSG $JS.hub.API.CONSUMER.CREATE.INBOX-orion mesh.down.nova.created ${Buffer.byteLength(create)}\r\n${create}\r\n`);
    await until("the hub's answers to the hostile leaf", () => evil.text().includes("LMSG mesh.down.nova.created"), 10_000);
    expect(evil.text()).toMatch(/LMSG mesh\.down\.nova\.info \d+\r\n\{"type":"io\.nats\.jetstream\.api\.v1\.stream_info_response".*"name":"INBOX-orion"/);
    expect(evil.text()).toMatch(/"type":"io\.nats\.jetstream\.api\.v1\.consumer_create_response".*"stream_name":"INBOX-orion"/);
    // How it shows: the hub holds no consumer in leaf mode (sources and mirrors run on internal ones); this one is listed.
    const listed = await consumersOf(await jetstreamManager(mesh.admin));
    expect(listed.filter((c) => c.startsWith("INBOX-orion/"))).toHaveLength(1);
    evil.sock.destroy();
  });
});
