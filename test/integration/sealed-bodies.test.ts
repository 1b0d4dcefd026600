/**
 * Sealed bodies on a secure mesh, against a real nats-server started by the real CLI: what the
 * broker stores (read with the admin credential, as whoever runs or backs up the broker's Mac can)
 * holds no plaintext of a message, an ask or its reply; the recipient reads them; keys are each
 * identity's own (the server refuses another identity's key, the verifier a key it did not sign).
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { createCurve } from "@nats-io/nkeys";
import { publishEnvelope } from "../../src/bus/publish.js";
import { publishedKey } from "../../src/bus/sealing.js";
import { newEnvelope, parseEnvelope, type Envelope } from "../../subjects/mod.js";
import { CurveKey, sealBody } from "../../subjects/sealed.js";
import { mesh } from "../support/cli.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { deniedPublish, startSecureMesh, violation, type SecureMesh, storedBytes } from "../support/secure-mesh.js";
import { storedEnvelopes, stubReplies, testSidecar, until } from "../support/sidecar.js";

let m: SecureMesh;
let hooks: HooksEndpoint;
let clawd: Awaited<ReturnType<typeof testSidecar>>;
const as = (id: string) => ({ ...m.env, MESH_IDENTITY: id, MESH_CREDS: m.creds(id) });
const startClawd = (stateDir?: string) =>
  testSidecar({
    identity: "clawd",
    server: m.server,
    creds: m.creds("clawd"),
    gatewayUrl: hooks.url,
    hooksToken: hooks.token,
    jobs: false,
    replies: stubReplies(hooks, 10),
    ...(stateDir ? { stateDir } : {}),
  });

/** What is published to clawd's inbox, as the broker receives and stores it (admin credential). */
function tapInbox(): { envelope(id: string): Envelope; text(): string; stop(): void } {
  const seen: string[] = [];
  const sub = m.admin.subscribe("agent.clawd.inbox.>", {
    callback: (_e, msg) => {
      seen.push(new TextDecoder().decode(msg.data));
    },
  });
  return {
    envelope: (id) => {
      const env = seen.map((t) => parseEnvelope(t)).find((e) => e.id === id);
      if (!env) throw new Error(`${id} was not seen on agent.clawd.inbox.>`);
      return env;
    },
    text: () => seen.join("\n"),
    stop: () => sub.unsubscribe(),
  };
}

beforeAll(async () => {
  m = await startSecureMesh(["nova", "clawd", "lyra"]);
  hooks = await startHooksEndpoint({ token: "hooks-token-sealed-4b1d" });
  clawd = await startClawd();
}, 60_000);

afterAll(async () => {
  await clawd?.stop("test");
  await hooks?.close();
  await m?.stop();
});

describe("sealed bodies (secure mesh, real nats-server)", () => {
  it("clawd's sidecar publishes its sealing key; mesh send from nova seals for clawd: INBOX-clawd holds no plaintext, clawd's gateway gets the text", async () => {
    expect(await publishedKey(m.admin, "clawd")).toMatch(/^X[A-Z2-7]{55}$/);
    const wire = tapInbox();
    const r = await mesh(["send", "clawd", "SEALED-one: the cackles deploy key rotates friday", "--json"], { env: as("nova") });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const sent = JSON.parse(r.stdout) as { id: string; sealed: boolean };
    expect(sent.sealed).toBe(true);
    const turn = await until("the turn at clawd's gateway", () => hooks.received.find((h) => h.body.message?.includes("SEALED-one: the cackles deploy key rotates friday")));
    expect(turn.body.message).toContain("nova");
    // What the broker stored (taken off the inbox once delivered): the bytes as published to it.
    const stored = wire.envelope(sent.id);
    expect(stored.body).toBeUndefined();
    // nova's CLI has no keyring on this "Mac" (no sidecar of nova's): a one-off key, clawd the only reader.
    expect(Object.keys(stored.sealed!.k)).toEqual(["clawd"]);
    expect(wire.text()).not.toContain("cackles deploy key");
    wire.stop();
  });

  it("mesh ask: the ask and clawd's reply are sealed (nothing on the broker or the wire carries either text), and the asking CLI opens the answer", async () => {
    const wire: string[] = [];
    const tap = m.admin.subscribe(">", { callback: (_e, msg) => {
        wire.push(new TextDecoder().decode(msg.data));
      }, });
    const r = await mesh(["ask", "clawd", "SEALED-two: what is the staging password?", "--json", "--timeout", "20s"], { env: as("nova") });
    tap.unsubscribe();
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { id: string; status: string; reply: string };
    expect(res.status).toBe("ok");
    // The stand-in gateway answers "result for <marker>", the marker being in the turn it received.
    const turn = hooks.received.find((h) => h.body.message?.includes("SEALED-two: what is the staging password?"));
    expect(turn).toBeDefined();
    expect(res.reply).toMatch(/^result for /);
    const seen = wire.join("\n");
    expect(wire.length).toBeGreaterThan(2);
    expect(seen).not.toContain("SEALED-two");
    expect(seen).not.toContain(res.reply);
    expect(await storedBytes(m.admin, "REPLIES-nova").catch(() => "")).not.toContain(res.reply);
  });

  it("lyra cannot publish a sealing key for clawd: the server refuses the put on $KV.mesh-xkeys.clawd", async () => {
    const lyra = await m.as("lyra");
    const kv = await new Kvm(lyra).open("mesh-xkeys");
    await expect(kv.put("clawd", "{}")).rejects.toThrow(deniedPublish("$KV.mesh-xkeys.clawd"));
    const raw = await m.as("lyra");
    expect(await violation(raw, () => raw.publish("$KV.mesh-xkeys.clawd", "{}"))).toMatch(/^Permissions Violation for Publish to "\$KV\.mesh-xkeys\.clawd"/);
  });

  it("a key for lyra not signed by lyra (written with the admin credential) is not sealed to: mesh send says why, in one line, and sends nothing", async () => {
    const forged = m.signer("nova").signRecord({ v: 1, id: "lyra", xkey: createCurve().getPublicKey(), at: new Date().toISOString(), sig: "" });
    await (await new Kvm(m.admin).open("mesh-xkeys")).put("lyra", JSON.stringify(forged));
    const before = (await (await jetstreamManager(m.admin)).streams.info("INBOX-lyra")).state.messages;
    const r = await mesh(["send", "lyra", "SEALED-three"], { env: as("nova") });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mesh: the sealing key published for lyra is not signed by lyra: signature does not match lyra's key/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect((await (await jetstreamManager(m.admin)).streams.info("INBOX-lyra")).state.messages).toBe(before);
  });

  it("a body sealed for lyra only, signed by nova and sent to clawd: clawd dead-letters it with the reason, and keeps it sealed", async () => {
    const env = newEnvelope({ from: "nova", to: "clawd", kind: "message", body: "x" });
    const { body: _b, ...rest } = env;
    const sealed = { ...rest, sealed: sealBody(env.id, "SEALED-four: not for clawd", new CurveKey(new TextDecoder().decode(createCurve().getSeed())), { lyra: createCurve().getPublicKey() }) };
    await publishEnvelope(m.admin, "agent.clawd.inbox.nova", m.signer("nova").sign(sealed));
    const dead = await until("the dead letter", async () => (await storedEnvelopes(m.admin, "DLQ-clawd", "dlq.clawd.inbox.*")).find((d) => JSON.stringify(d.body).includes(env.id)));
    expect((dead.body as { reason: string }).reason).toBe("its sealed body cannot be opened here: sealed for lyra, not for clawd");
    expect(JSON.stringify(dead)).not.toContain("SEALED-four");
    expect(hooks.received.some((h) => h.body.message?.includes("SEALED-four"))).toBe(false);
  });

  it("mesh keys rotate, then a sidecar restart: the new key is published, a message sealed to the old key while clawd was down still opens, and new mail is sealed to the new key", async () => {
    const oldKey = await publishedKey(m.admin, "clawd");
    await clawd.stop("test");
    const sentWhileDown = await mesh(["send", "clawd", "SEALED-five: sealed to the old key", "--json"], { env: as("nova") });
    expect(sentWhileDown.code, sentWhileDown.stderr).toBe(0);
    const rotated = await mesh(["keys", "rotate", "--json", "-c", clawd.configPath], { env: m.env });
    expect(rotated.code, rotated.stderr).toBe(0);
    const ring = JSON.parse(rotated.stdout) as { keys: number; current: string };
    expect(ring.keys).toBe(2);
    expect(ring.current).not.toBe(oldKey);
    expect(JSON.parse(readFileSync(`${clawd.stateDir}/xkeys.json`, "utf8")).keys).toHaveLength(2);
    clawd = await startClawd(clawd.stateDir);
    expect(await publishedKey(m.admin, "clawd")).toBe(ring.current);
    await until("the message sealed to the old key, delivered", () => hooks.received.find((h) => h.body.message?.includes("SEALED-five: sealed to the old key")));
    const wire = tapInbox();
    const after = await mesh(["send", "clawd", "SEALED-six: sealed to the new key", "--json"], { env: as("nova") });
    const id = (JSON.parse(after.stdout) as { id: string }).id;
    await until("the message sealed to the new key, delivered", () => hooks.received.find((h) => h.body.message?.includes("SEALED-six: sealed to the new key")));
    expect(wire.envelope(id).sealed!.k.clawd!.to).toBe(ring.current);
    wire.stop();
    const show = await mesh(["keys", "show", "--json", "-c", clawd.configPath], { env: as("clawd") });
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ identity: "clawd", keys: 2, current: ring.current, published: ring.current, inUse: true });
  });

  it("a reissued credential (mesh identity revoke + add): senders refuse the key signed by the old nkey; clawd's sidecar, restarted with the new one, publishes it again and mail is sealed to it", async () => {
    await clawd.stop("test");
    const oldPub = readFileSync(m.creds("clawd"), "utf8");
    expect((await mesh(["identity", "revoke", "clawd"], { env: m.env })).code).toBe(0);
    const added = await mesh(["identity", "add", "clawd"], { env: m.env });
    expect(added.code, added.stderr).toBe(0);
    expect(readFileSync(m.creds("clawd"), "utf8")).not.toBe(oldPub);
    const refused = await mesh(["send", "clawd", "SEALED-seven"], { env: as("nova") });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^mesh: the sealing key published for clawd is not signed by clawd: signature does not match clawd's key/);
    clawd = await startClawd(clawd.stateDir);
    const sent = await mesh(["send", "clawd", "SEALED-eight: after the reissue", "--json"], { env: as("nova") });
    expect(sent.code, sent.stderr).toBe(0);
    expect((JSON.parse(sent.stdout) as { sealed: boolean }).sealed).toBe(true);
    await until("the message after the reissue, delivered", () => hooks.received.find((h) => h.body.message?.includes("SEALED-eight: after the reissue")));
  });
});
