/**
 * README (Hooks and alerts): `when` with `{"match": …}` and `{"in": […]}`; a new rule starts at
 * "now"; changing its `on` starts it over; failed actions give up after `maxAttempts`; `mesh hooks
 * list` shows each rule's lag; `mesh hooks test <rule>` fires the action once with a sample event.
 * A real nats-server, real sidecars, a webhook receiver that records every POST.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import type { z } from "zod";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { publishEnvelope } from "../../src/bus/publish.js";
import { ruleSchema } from "../../src/features/hooks/rules.js";
import { eventSubject, newEnvelope, parseEnvelope } from "../../subjects/mod.js";
import { dlqStreamName, hookConsumerName, hooksStreamName } from "../../subjects/names.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { startBroker, type TestBroker } from "../support/broker.js";
import { mesh } from "../support/cli.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { storedEnvelopes, testSidecar, until } from "../support/sidecar.js";
import { startWebhookReceiver } from "../support/webhook-receiver.js";

type RuleInput = z.input<typeof ruleSchema>;
const rule = (r: RuleInput): RuleInput => (ruleSchema.parse(r), r);

let broker: TestBroker;
let nc: NatsConnection;
let gateway: HooksEndpoint;
const running: Sidecar[] = [];

/** A webhook receiver that also counts every POST (whatever it answers). */
async function receiver(answer: (body: string) => number = () => 200) {
  const rx = await startWebhookReceiver();
  const all: string[] = [];
  rx.status = (body) => (all.push(body), answer(body));
  return Object.assign(rx, { all });
}

async function event(from: string, kind: string, body: unknown): Promise<string> {
  const env = newEnvelope({ from, to: "*", kind: "event", type: kind, body });
  await publishEnvelope(nc, eventSubject(from, ...kind.split(".")), env);
  return env.id;
}

async function sidecar(identity: string, rules: RuleInput[]): Promise<Sidecar & { configPath: string }> {
  const s = await testSidecar({ identity, server: broker.url, gatewayUrl: gateway.url, hooksToken: gateway.token, hooks: rules, jobs: false });
  running.push(s);
  return s;
}

async function stop(s: Sidecar): Promise<void> {
  await s.stop("test stop");
  running.splice(running.indexOf(s), 1);
}

beforeAll(async () => {
  broker = await startBroker();
  nc = await connectMesh({ server: broker.url });
  await provision(nc);
  gateway = await startHooksEndpoint();
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop("test done").catch(() => undefined)));
  await gateway?.close();
  await nc?.close();
  await broker?.stop();
});

describe("hook rules", () => {
  it("when {match} and {in}: of 5 events the rule fires for exactly the 2 whose reason matches the regex and whose queue is in the list; 2 are skipped, and the one whose reason is not a string (against job.failed's schema) is refused", async () => {
    const rx = await receiver();
    const s = await sidecar("w-when", [
      rule({ name: "sel", on: "events.orion.job.failed", when: { "body.reason": { match: "^time(out)?" }, "body.queue": { in: ["a", "b"] } }, action: { type: "webhook", url: rx.url } }),
    ]);
    const fire1 = await event("orion", "job.failed", { jobId: "1", queue: "a", reason: "timeout after 5m", final: true });
    await event("orion", "job.failed", { jobId: "2", queue: "a", reason: "crash", final: true }); // regex does not match
    await event("orion", "job.failed", { jobId: "3", queue: "c", reason: "timeout", final: true }); // queue not in the list
    await event("orion", "job.failed", { jobId: "4", queue: "b", reason: 42, final: true }); // not a string: not a job.failed body
    const fire2 = await event("orion", "job.failed", { jobId: "5", queue: "b", reason: "time", final: true });
    const st = await until("all 5 events handled", () => {
      const x = s.hooks!.stats.get("sel")!;
      return x.fired + x.skipped + x.refused === 5 && x;
    });
    expect(st).toMatchObject({ fired: 2, skipped: 2, refused: 1 });
    expect(rx.all.map((b) => parseEnvelope(b).id)).toEqual([fire1, fire2]);
    await rx.close();
  });

  it("a new rule starts at now: 2 matching events published before its sidecar started are never acted on, the one published after is", async () => {
    const rx = await receiver();
    await event("lyra", "note", { text: "before-1" });
    await event("lyra", "note", { text: "before-2" });
    const s = await sidecar("w-now", [rule({ name: "fresh", on: "events.lyra.note", action: { type: "webhook", url: rx.url, body: "{{body.text}}" } })]);
    await event("lyra", "note", { text: "after" });
    await until("the event after start", () => rx.all.length >= 1);
    const jsm = await jetstreamManager(nc);
    const ci = await jsm.consumers.info(hooksStreamName("w-now"), hookConsumerName("w-now", "fresh"));
    // Nothing else is waiting for the rule: the earlier events are not pending, and it saw only one event.
    expect({ pending: ci.num_pending, ackPending: ci.num_ack_pending }).toEqual({ pending: 0, ackPending: 0 });
    expect(s.hooks!.stats.get("fresh")).toMatchObject({ fired: 1, skipped: 0 });
    expect(rx.all).toEqual(['"after"']);
    await rx.close();
  });

  it("changing a rule's on starts it over: events on the new filter published while the sidecar was down are not acted on, the next one is; the consumer's filter is the new one", async () => {
    const rx = await receiver();
    const first = await sidecar("w-change", [rule({ name: "r", on: "events.vega.old", action: { type: "webhook", url: rx.url, body: "{{type}} {{body.text}}" } })]);
    await event("vega", "old", { text: "o1" });
    await until("o1", () => rx.all.length === 1);
    await stop(first);
    await event("vega", "old", { text: "o2-missed" });
    await event("vega", "new", { text: "n1-missed" });
    const second = await sidecar("w-change", [rule({ name: "r", on: "events.vega.new", action: { type: "webhook", url: rx.url, body: "{{type}} {{body.text}}" } })]);
    await event("vega", "new", { text: "n2" });
    await until("n2", () => rx.all.length === 2);
    const ci = await (await jetstreamManager(nc)).consumers.info(hooksStreamName("w-change"), hookConsumerName("w-change", "r"));
    expect(ci.config.filter_subject).toBe("events.vega.new");
    expect(ci.num_pending).toBe(0);
    expect(second.hooks!.stats.get("r")).toMatchObject({ fired: 1, skipped: 0 });
    expect(rx.all).toEqual(['"old" "o1"', '"new" "n2"']);
    await rx.close();
  });

  it("maxAttempts 3 against a receiver that always answers 500: exactly 3 POSTs, then one dead letter 'gave up after 3 attempts'", async () => {
    const rx = await receiver(() => 500);
    const s = await sidecar("w-give-up", [rule({ name: "flaky", on: "events.deneb.ping", maxAttempts: 3, action: { type: "webhook", url: rx.url, body: "{{body.n}}" } })]);
    const id = await event("deneb", "ping", { n: 1 });
    const dead = await until("the dead letter", async () => (await storedEnvelopes(nc, dlqStreamName("w-give-up"), "dlq.w-give-up.hooks.*"))[0], 30_000);
    expect(dead.body).toMatchObject({ reason: "rule flaky: HTTP 500 (gave up after 3 attempts)", originalId: id });
    // Event fields reach a rule's text as quoted JSON strings (README, Hooks: what a peer controls).
    expect(rx.all).toEqual(['"1"', '"1"', '"1"']);
    expect(s.hooks!.stats.get("flaky")).toMatchObject({ fired: 0, retried: 2, deadLettered: 1 });
    await rx.close();
  });
});

describe("stopping", () => {
  it("a sidecar with a hook rule stopped right after start() finishes stopping within 5 s (the rule's pull loop sees the stop even before it consumes)", async () => {
    const s = await testSidecar({ identity: "w-quick-stop", server: broker.url, gatewayUrl: gateway.url, hooksToken: gateway.token, jobs: false, hooks: [rule({ name: "r", on: "events.quick.x", action: { type: "webhook", url: "http://127.0.0.1:9/" } })] });
    const t0 = Date.now();
    const stopped = await Promise.race([s.stop("at once").then(() => "stopped"), new Promise((r) => setTimeout(() => r("still stopping after 5 s"), 5000))]);
    expect(stopped).toBe("stopped");
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe("mesh hooks list / test", () => {
  it("list: the started rule's lag is the number of matching events published while its sidecar was down; a rule never started says 'not started'", async () => {
    const rx = await receiver();
    const rules = [
      rule({ name: "counted", on: "events.rigel.tick", action: { type: "webhook", url: rx.url } }),
    ];
    const s = await sidecar("w-list", rules);
    await stop(s);
    for (let i = 0; i < 3; i++) await event("rigel", "tick", { i });
    await event("rigel", "other", { i: 9 }); // not on the filter
    // The same config file, plus a rule that no sidecar has started.
    const cfg = JSON.parse((await import("node:fs")).readFileSync(s.configPath, "utf8")) as { hooks: RuleInput[] };
    cfg.hooks.push(rule({ name: "idle", on: "events.rigel.never", when: { "body.x": { in: [1] } }, action: { type: "webhook", url: rx.url } }));
    (await import("node:fs")).writeFileSync(s.configPath, JSON.stringify(cfg), { mode: 0o600 });
    const env = { MESH_CONFIG: s.configPath, MESH_SERVER: broker.url };
    const j = await mesh(["hooks", "list", "--json"], { env });
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual([
      { name: "counted", on: "events.rigel.tick", action: "webhook", when: null, from: null, lag: 3, inFlight: 0, fired: 0, skipped: 0, refused: 0, deadLettered: 0 },
      { name: "idle", on: "events.rigel.never", action: "webhook", when: { "body.x": { in: [1] } }, from: null },
    ]);
    const human = await mesh(["hooks", "list"], { env });
    expect(human.stdout).toMatch(/^counted +events\.rigel\.tick +webhook +lag 3 +fired 0, skipped 0, refused 0, dead-lettered 0\n/m);
    expect(human.stdout).toMatch(/^idle +events\.rigel\.never +webhook +not started  when \{"body\.x":\{"in":\[1\]\}\}\n/m);
    expect(rx.all).toEqual([]);
    await rx.close();
  });

  it("test: fires the rule's webhook exactly once with a sample event on a subject its filter matches (exit 0); a receiver answering 400 → exit 1, 'would be dead-lettered'", async () => {
    const rx = await receiver();
    const s = await sidecar("w-test", [rule({ name: "probe", on: "events.*.job.failed", action: { type: "webhook", url: rx.url } })]);
    await stop(s);
    const env = { MESH_CONFIG: s.configPath, MESH_SERVER: broker.url };
    const ok = await mesh(["hooks", "test", "probe"], { env });
    expect(ok.code, ok.stderr).toBe(0);
    const m = /^rule probe fired \(webhook, HTTP 200\) with a sample (events\.[a-z0-9-]+\.job\.failed) event\n$/.exec(ok.stdout);
    expect(m, ok.stdout).not.toBeNull();
    expect(rx.all).toHaveLength(1);
    const sample = parseEnvelope(rx.all[0]!);
    expect({ kind: sample.kind, type: sample.type }).toEqual({ kind: "event", type: "job.failed" });
    expect(m![1]).toBe(`events.${sample.from}.job.failed`);
    rx.status = (body) => (rx.all.push(body), 400);
    const refused = await mesh(["hooks", "test", "probe"], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe("mesh: rule probe failed: HTTP 400 (would be dead-lettered)\n");
    expect(rx.all).toHaveLength(2);
    await rx.close();
  });
});
