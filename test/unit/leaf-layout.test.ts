import { describe, expect, it } from "vitest";
import { renderServerConfig } from "../../broker/server-config.js";
import { hubLeafOptions, hubLinkUrl, leafCredentialText, macLeafOptions, parseLeafCredential } from "../../broker/leaf-server.js";
import { leafPermissions } from "../../broker/leaf-permissions.js";
import { hubEventSources, hubInboxSources, hubMirrorDefinition, leafStreamDefinitions, outboxDefinition } from "../../broker/leaf-definitions.js";
import { hubInboxDefinition } from "../../broker/leaf-provision.js";
import { DEFAULT_IDENTITY_LIMITS } from "../../broker/definitions.js";

const MACS = { nova: ["nova", "nova2"], orion: ["orion"] };
const cred = { mac: "nova", user: "leaf-nova", password: "p".repeat(32) };

describe("leaf mode: server configs", () => {
  it("a Mac's leaf server has its own domain, pings every 2 s (2 missed = dead) and a link denying agent.>, events.> and dlq.> both ways", () => {
    const conf = renderServerConfig({ serverName: "leaf-nova", host: "127.0.0.1", port: 4223, monitorPort: 8223, storeDir: "/s", ...macLeafOptions({ mac: "nova", hub: "hub.tail:7422", credential: cred }) });
    expect(conf).toContain('domain: "mac-nova"');
    expect(conf).toContain('ping_interval: "2s"');
    expect(conf).toContain("ping_max: 2");
    const deny = '["agent.>", "events.>", "dlq.>"]';
    expect(conf).toContain(`url: "nats-leaf://leaf-nova:${"p".repeat(32)}@hub.tail:7422", deny_imports: ${deny}, deny_exports: ${deny}`);
  });

  it("the hub has domain hub and a leafnode listener that advertises the given name (gotcha 1)", () => {
    const conf = renderServerConfig({ serverName: "hub", host: "0.0.0.0", port: 4222, monitorPort: 8222, storeDir: "/s", ...hubLeafOptions({ host: "0.0.0.0", port: 7422, advertise: "mini.tail:7422" }) });
    expect(conf).toContain('domain: "hub"');
    expect(conf).toMatch(/leafnodes \{\n {2}listen: "0\.0\.0\.0:7422"\n {2}advertise: "mini\.tail:7422"\n\}/);
  });

  it("a leaf credential round-trips; one for another Mac is refused by the Mac's config", () => {
    expect(parseLeafCredential(leafCredentialText(cred))).toEqual(cred);
    expect(parseLeafCredential("leaf-nova:short\n")).toBeUndefined();
    expect(() => macLeafOptions({ mac: "orion", hub: "h", credential: cred })).toThrow("the leaf credential is for Mac nova, not orion");
    expect(hubLinkUrl("nats-leaf://[fd7a::1]:7500", cred)).toBe(`nats-leaf://leaf-nova:${"p".repeat(32)}@[fd7a::1]:7500`);
  });
});

describe("leaf mode: streams", () => {
  it("dedup happens at the origin only: the outbox has a 1 h duplicate window and takes every inbox lane; every other leaf inbox is fed by sources and has no subjects", () => {
    const defs = leafStreamDefinitions("nova", MACS.nova);
    const outbox = outboxDefinition("nova");
    expect(outbox.duplicate_window).toBe(3_600_000_000_000);
    expect(outbox.subjects).toEqual(["agent.*.inbox.*"]);
    // A per-sender limit where the publish happens: the sender gets the error, no source stalls downstream.
    expect(outbox.discard_new_per_subject).toBe(true);
    expect(outbox.discard).toBe("new");
    expect(outbox.max_msgs_per_subject).toBe(DEFAULT_IDENTITY_LIMITS.inboxPerSender);
    // Events are never refused (monitoring must not block a publisher): their own stream, oldest dropped.
    const events = defs.find((d) => d.name === "EVENTS-nova")!;
    expect(events.subjects).toEqual(["events.>"]);
    expect(events.discard).toBe("old");
    const inboxes = defs.filter((d) => d.name.startsWith("INBOX-"));
    expect(inboxes.map((d) => d.name)).toEqual(["INBOX-nova", "INBOX-nova2"]);
    for (const d of inboxes) {
      expect(d.subjects).toBeUndefined();
      expect(d.discard).toBe("old");
      expect(d.discard_new_per_subject).toBeUndefined();
    }
  });

  it("each message reaches an inbox by exactly one path: a leaf inbox sources its Mac's outbox (same-Mac mail) and the hub's inbox; the hub's inbox sources only the other Macs' mirrors", () => {
    const nova2 = leafStreamDefinitions("nova", MACS.nova).find((d) => d.name === "INBOX-nova2")!;
    expect(nova2.sources).toEqual([
      { name: "OUTBOX-nova", filter_subject: "agent.nova2.inbox.*" },
      { name: "INBOX-nova2", external: { api: "$JS.hub.API", deliver: "mesh.down.nova" } },
    ]);
    expect(hubInboxSources("nova2", "nova", MACS)).toEqual([{ name: "OUTBOX-orion", filter_subject: "agent.nova2.inbox.*" }]);
    expect(hubInboxSources("orion", "orion", MACS)).toEqual([{ name: "OUTBOX-nova", filter_subject: "agent.orion.inbox.*" }]);
    expect(hubEventSources(MACS)).toEqual([
      { name: "EVENTS-nova", filter_subject: "events.>", external: { api: "$JS.mac-nova.API", deliver: "mesh.up.nova" } },
      { name: "EVENTS-orion", filter_subject: "events.>", external: { api: "$JS.mac-orion.API", deliver: "mesh.up.orion" } },
    ]);
    expect(hubMirrorDefinition("orion").mirror).toEqual({ name: "OUTBOX-orion", external: { api: "$JS.mac-orion.API", deliver: "mesh.up.orion" } });
  });

  it("the hub's inbox of a leaf-hosted identity never refuses what a source brings (discard old, four times the origin's per-sender limit, no byte or message cap)", () => {
    const d = hubInboxDefinition("orion", "orion", MACS);
    expect(d.discard).toBe("old");
    expect(d.discard_new_per_subject).toBe(false);
    expect(d.max_msgs_per_subject).toBe(4 * outboxDefinition("nova").max_msgs_per_subject!);
    expect(d.max_msgs).toBe(-1);
    expect(d.max_bytes).toBe(-1);
    expect(d.subjects).toEqual(["agent.orion.inbox.*"]);
  });
});

describe("leaf mode: what a Mac's leaf user may carry", () => {
  const p = leafPermissions("nova", MACS.nova);
  const all = [...p.publish.allow, ...p.subscribe.allow];

  it("the outbox trim may read how much waits in every other identity's hub inbox (stream info), and nothing else of theirs: no message get, direct get, delete or consumer", () => {
    const q = leafPermissions("nova", MACS.nova, () => ({}), ["nova", "nova2", "orion"]);
    expect(q.publish.allow).toContain("$JS.hub.API.STREAM.INFO.INBOX-orion");
    expect([...q.publish.allow, ...q.subscribe.allow].filter((s) => s.includes("INBOX-orion") && !s.endsWith(".STREAM.INFO.INBOX-orion"))).toEqual([]);
    // Its own identities' hub inboxes: it removes what it delivered (the hub's copies).
    expect(q.publish.allow).toContain("$JS.hub.API.STREAM.MSG.DELETE.INBOX-nova2");
  });

  it("only jobs are consumed across the link: the pulls and acks a Mac may send the hub are those of its granted JOBS consumers; no pull, ack or durable consumer of mail or events (gotcha 4)", () => {
    const consuming = all.filter((s) => s.includes("MSG.NEXT") || s.startsWith("$JS.ACK") || s.includes("DURABLE.CREATE"));
    // nova and nova2 have no grants: the default queue with no capability, one consumer.
    expect(consuming.sort()).toEqual(["$JS.ACK.JOBS.jobs-default-any.>", "$JS.hub.API.CONSUMER.MSG.NEXT.JOBS.jobs-default-any"]);
    // Its inboxes' sources on the hub are the consumers it may create there, and their flow control.
    expect(p.publish.allow).toContain("$JS.hub.API.CONSUMER.CREATE.INBOX-nova2");
    expect(p.subscribe.allow).toContain("$JS.mac-nova.API.CONSUMER.CREATE.OUTBOX-nova");
  });

  it("only its own identities' traffic: nothing names orion or Mac orion, and the application subjects are not carried at all", () => {
    expect(all.filter((s) => s.includes("orion"))).toEqual([]);
    expect(all.filter((s) => /^(agent|events|dlq)\./.test(s))).toEqual([]);
    expect(p.subscribe.allow).toEqual(expect.arrayContaining(["_INBOX_nova.>", "_INBOX_nova2.>", "reply.nova.>", "reply.nova2.>", "mesh.down.nova.>"]));
    expect(p.publish.allow).toEqual(expect.arrayContaining(["$JS.hub.API.$KV.mesh-presence.nova", "$JS.hub.API.$KV.mesh-presence.nova2", "mesh.up.nova.>"]));
  });
});
