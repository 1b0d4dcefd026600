import { describe, expect, it } from "vitest";
import {
  checkSubject,
  eventSubject,
  identity,
  identityFromHostname,
  inboxSubject,
  InvalidNameError,
  jobSubject,
  replySubject,
  dlqSubject,
} from "../../subjects/mod.js";

describe("identity names", () => {
  it.each(["nova", "clawd", "mac-mini-2", "a", "0", "a".repeat(32)])("accepts %j", (name) => {
    expect(identity(name)).toBe(name);
    expect(inboxSubject(name, "nova")).toBe(`agent.${name}.inbox.nova`);
    expect(inboxSubject("nova", name)).toBe(`agent.nova.inbox.${name}`);
  });

  it.each([
    ["no.va", "dot"],
    ["no va", "whitespace"],
    ["nova*", "wildcard"],
    ["nova>", "wildcard"],
    [">", "wildcard"],
    ["*", "wildcard"],
    ["nova\n", "whitespace"],
    ["nova\u0000", "control"],
    ["nova\u0007", "control"],
    ["Nova", "uppercase"],
    ["-nova", "dash"],
    ["nova-", "dash"],
    ["", "empty"],
    ["a".repeat(33), "longer"],
    ["növa", "only lowercase"],
    ["nova\u200b", "only lowercase"],
  ])("refuses %j (%s) with one line, before any subject exists", (name, why) => {
    expect(() => identity(name)).toThrow(InvalidNameError);
    expect(() => identity(name)).toThrow(new RegExp(why));
    expect(() => inboxSubject(name, "nova")).toThrow(InvalidNameError);
    expect(() => inboxSubject("nova", name)).toThrow(InvalidNameError);
    expect(() => eventSubject(name, "x")).toThrow(InvalidNameError);
    expect(() => replySubject(name, "abc")).toThrow(InvalidNameError);
    expect(() => dlqSubject(name, "inbox", "nova")).toThrow(InvalidNameError);
    expect(() => dlqSubject("nova", "inbox", name)).toThrow(InvalidNameError);
    try {
      identity(name);
    } catch (err) {
      expect((err as Error).message).not.toContain("\n");
    }
  });

  it("derives an identity from a host name", () => {
    expect(identityFromHostname("Nova's MacBook Pro.local")).toBe("nova-s-macbook-pro");
    expect(identityFromHostname("clawd")).toBe("clawd");
    expect(identityFromHostname("...")).toBe("local");
    expect(identity(identityFromHostname("X".repeat(80)))).toHaveLength(32);
  });
});

describe("subject builders", () => {
  it("build every subject from checked tokens", () => {
    expect(eventSubject("nova", "sidecar", "started")).toBe("events.nova.sidecar.started");
    expect(jobSubject("default")).toBe("jobs.default.any");
    expect(jobSubject("default", ["gpu", "build", "gpu"])).toBe("jobs.default.build+gpu");
    expect(replySubject("clawd", "0F3A")).toBe("reply.clawd.0f3a");
    expect(dlqSubject("nova", "inbox", "clawd")).toBe("dlq.nova.inbox.clawd");
    expect(() => eventSubject("nova", "a.b")).toThrow(/event kind/);
    expect(() => eventSubject("nova")).toThrow(/kind/);
    expect(() => jobSubject("q", ["g p u"])).toThrow(/capability/);
  });

  it("checks user-typed subjects and patterns", () => {
    expect(checkSubject("events.>", { wildcards: true })).toBe("events.>");
    expect(checkSubject("agent.*.inbox", { wildcards: true })).toBe("agent.*.inbox");
    expect(() => checkSubject("events.>", { wildcards: false })).toThrow(/wildcards/);
    expect(() => checkSubject("a..b", { wildcards: true })).toThrow(/empty token/);
    expect(() => checkSubject("a.>.b", { wildcards: true })).toThrow(/last token/);
    expect(() => checkSubject("a.b*", { wildcards: true })).toThrow(/whole token/);
    expect(() => checkSubject("a b", { wildcards: true })).toThrow(/whitespace/);
    expect(() => checkSubject("", { wildcards: true })).toThrow(/empty/);
  });
});
