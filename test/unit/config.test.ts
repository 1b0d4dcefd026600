import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig, DEFAULT_SERVER } from "../../src/config/config.js";
import { assertPrivateFile } from "../../src/base/files.js";
import { loadConfigFile } from "../../src/config/config-file.js";
import { parseDuration } from "../../src/base/duration.js";
import { parseServers } from "../../src/bus/connection.js";
import {
  CLUSTER_NODES,
  CONTAINER_CONFIG,
  containerClusterConfig,
  renderServerConfig,
} from "../../broker/server-config.js";

const dir = mkdtempSync(join(tmpdir(), "mesh-config-"));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("natscli contexts", () => {
  const xdg = mkdtempSync(join(tmpdir(), "mesh-nats-ctx-"));
  const ctx = (name: string, body: Record<string, unknown>) => {
    mkdirSync(join(xdg, "nats", "context"), { recursive: true });
    writeFileSync(join(xdg, "nats", "context", `${name}.json`), JSON.stringify(body));
  };
  const env = { XDG_CONFIG_HOME: xdg, MESH_HOME: join(xdg, "mesh") };

  it("--context reads natscli's fields (url, creds, nkey, user/password, token, TLS files, tls_first, inbox_prefix); empty strings are unset", async () => {
    ctx("full", { description: "", url: "nats://ctx:4222", creds: "/c/ctx.creds", nkey: "/c/seed.nk", user: "u", password: "p", token: "t0k", cert: "/c/cert.pem", key: "/c/key.pem", ca: "/c/ca.pem", tls_first: true, inbox_prefix: "_INBOX_x", jetstream_domain: "hub" });
    const r = await resolveConfig({ context: "full" }, env);
    expect(r.server).toBe("nats://ctx:4222");
    expect(r.creds).toBe("/c/ctx.creds");
    expect(r.context).toEqual({
      name: "full",
      auth: { nkeyFile: "/c/seed.nk", user: "u", pass: "p", token: "t0k", tls: { certFile: "/c/cert.pem", keyFile: "/c/key.pem", caFile: "/c/ca.pem", handshakeFirst: true }, inboxPrefix: "_INBOX_x" },
    });
    ctx("sparse", { url: "nats://sparse:4222", creds: "", nkey: "", user: "", token: "" });
    expect(await resolveConfig({}, { ...env, MESH_CONTEXT: "sparse" })).toMatchObject({ server: "nats://sparse:4222", context: { name: "sparse", auth: {} } });
    expect((await resolveConfig({}, { ...env, MESH_CONTEXT: "sparse" })).creds).toBeUndefined();
  });

  it("precedence: flags > environment > --context > config file > the context selected in context.txt (only when nothing names a server) > default", async () => {
    ctx("named", { url: "nats://named:4222" });
    ctx("chosen", { url: "nats://chosen:4222", creds: "/c/chosen.creds" });
    writeFileSync(join(xdg, "nats", "context.txt"), "chosen\n");
    const withServer = file("ctx-server.json", JSON.stringify({ server: "nats://file:4222" }));
    expect((await resolveConfig({}, env)).server).toBe("nats://chosen:4222");
    expect((await resolveConfig({}, env)).creds).toBe("/c/chosen.creds");
    expect((await resolveConfig({ config: withServer }, env)).server).toBe("nats://file:4222");
    expect((await resolveConfig({ config: withServer }, env)).context).toBeUndefined();
    expect((await resolveConfig({ config: withServer, context: "named" }, env)).server).toBe("nats://named:4222");
    expect((await resolveConfig({ context: "named" }, { ...env, MESH_SERVER: "nats://env:4222" })).server).toBe("nats://env:4222");
    expect((await resolveConfig({ context: "named", server: "nats://flag:4222" }, { ...env, MESH_SERVER: "nats://env:4222" })).server).toBe("nats://flag:4222");
  });

  it("a context that does not exist, or is not JSON, is one line naming it and the fix", async () => {
    await expect(resolveConfig({ context: "nope" }, env)).rejects.toThrow(`no nats context nope (${join(xdg, "nats", "context", "nope.json")}); list them with \`nats context ls\`, or make one with \`mesh init --nats-context nope\``);
    writeFileSync(join(xdg, "nats", "context", "broken.json"), "{oops");
    await expect(resolveConfig({ context: "broken" }, env)).rejects.toThrow(/^nats context broken \(.*broken\.json\) is not JSON: /);
    await expect(resolveConfig({ context: "../etc/passwd" }, env)).rejects.toThrow('invalid nats context name "../etc/passwd"');
  });
});

describe("config file", () => {
  it("validates and names the bad field in one line", () => {
    expect(() => loadConfigFile(file("a.json", '{"identity":"No.va"}'))).toThrow(/a\.json: identity: must be lowercase/);
    expect(() => loadConfigFile(file("b.json", '{"broker":{"port":"x"}}'))).toThrow(/broker\.port/);
    expect(() => loadConfigFile(file("c.json", '{"unknown":1}'))).toThrow(/unrecognized key/i);
    expect(() => loadConfigFile(file("d.json", "{not json"))).toThrow(/not valid JSON/);
    expect(() => loadConfigFile(file("e.json", '{"capabilities":"gpu"}'))).toThrow(/capabilities/);
    expect(() => loadConfigFile(join(dir, "missing.json"), true)).toThrow(/cannot read/);
    expect(loadConfigFile(join(dir, "missing.json"))).toEqual({ capabilities: [], hooks: [] });
  });

  it("resolves flags over environment over file over defaults", async () => {
    const p = file("ok.json", JSON.stringify({ identity: "nova", server: "nats://file:4222" }));
    expect((await resolveConfig({ config: p }, {})).server).toBe("nats://file:4222");
    expect((await resolveConfig({ config: p }, { MESH_SERVER: "nats://env:4222" })).server).toBe("nats://env:4222");
    expect((await resolveConfig({ config: p, server: "nats://flag:4222" }, { MESH_SERVER: "nats://env:4222" })).server).toBe("nats://flag:4222");
    expect((await resolveConfig({}, { MESH_HOME: join(dir, "empty-home") })).server).toBe(DEFAULT_SERVER);
    await expect(resolveConfig({}, { MESH_CONFIG: join(dir, "none.json") })).rejects.toThrow(/none\.json: cannot read it/);
    expect((await resolveConfig({ config: p, identity: "clawd" }, {})).identity).toBe("clawd");
  });

  it("refuses secret files readable by others", () => {
    const p = file("creds", "secret");
    chmodSync(p, 0o644);
    expect(() => assertPrivateFile(p)).toThrow(/chmod 600/);
    chmodSync(p, 0o600);
    expect(() => assertPrivateFile(p)).not.toThrow();
  });
});

describe("small parsers", () => {
  it("parses durations", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(() => parseDuration("soon")).toThrow(/invalid duration/);
    expect(() => parseDuration("5")).toThrow(/invalid duration/);
  });

  it("parses server lists and credentials in URLs", () => {
    expect(parseServers("nats://u:p%40ss@h:4333,h2")).toEqual({ servers: ["nats://h:4333", "nats://h2:4222"], user: "u", pass: "p@ss" });
    expect(() => parseServers(" , ")).toThrow(/no server/);
  });
});

describe("broker configuration files", () => {
  it("broker/*.conf are exactly what broker/server-config.ts renders", () => {
    const read = (n: string) => readFileSync(new URL(`../../broker/${n}`, import.meta.url), "utf8");
    expect(read("nats-server.conf")).toBe(renderServerConfig(CONTAINER_CONFIG));
    for (const n of CLUSTER_NODES) expect(read(`cluster-${n}.conf`)).toBe(renderServerConfig(containerClusterConfig(n)));
  });
});

describe("hook rules in the config", () => {
  const base = { name: "job-failed", on: "events.*.job.failed", action: { type: "webhook", url: "http://127.0.0.1:9/x" } };
  it("a bad rule is one line naming it", () => {
    expect(() => loadConfigFile(file("h1.json", JSON.stringify({ hooks: [{ ...base, action: { type: "agent", message: "{{bogus}}" } }] })))).toThrow(
      /h1\.json: hook rule "job-failed"\.action\.message: unknown field \{\{bogus\}\}/,
    );
    expect(() => loadConfigFile(file("h2.json", JSON.stringify({ hooks: [{ ...base, on: "agent.nova.inbox" }] })))).toThrow(/hook rule "job-failed"\.on: must be a subject under events\./);
    expect(() => loadConfigFile(file("h3.json", JSON.stringify({ hooks: [{ ...base, action: { type: "wake", text: "{{from" } }] })))).toThrow(/unbalanced/);
    expect(() => loadConfigFile(file("h4.json", JSON.stringify({ hooks: [base, base] })))).toThrow(/duplicate rule name job-failed/);
    expect(() => loadConfigFile(file("h5.json", JSON.stringify({ hooks: [{ ...base, action: { type: "alert", message: "x" } }] })))).toThrow(/hook rule "job-failed"\.action\.channel/);
    expect(loadConfigFile(file("h6.json", JSON.stringify({ hooks: [base] }))).hooks[0]!.maxAttempts).toBe(5);
  });
});

describe("mesh init --peer", () => {
  it("a peer gateway's address means the broker on that host, port 4222", async () => {
    const { brokerOfPeer } = await import("../../cli/commands/init.js");
    expect(brokerOfPeer("http://100.101.102.103:18789")).toBe("nats://100.101.102.103:4222");
    expect(brokerOfPeer("100.64.0.7:18789")).toBe("nats://100.64.0.7:4222");
    expect(brokerOfPeer("https://nova.tail1234.ts.net")).toBe("nats://nova.tail1234.ts.net:4222");
    expect(() => brokerOfPeer("http://")).toThrow(/not an address|no host/);
  });
});
