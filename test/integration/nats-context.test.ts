/**
 * natscli contexts against a real secure nats-server set up by the real CLI: `mesh --context` (and the
 * context selected in context.txt) reaches the broker with the context's url and credential — a creds
 * file or an nkey seed file — and a context with another identity's key is refused by the server.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mesh } from "../support/cli.js";
import { startSecureMesh, type SecureMesh } from "../support/secure-mesh.js";

let m: SecureMesh;
let xdg: string;

beforeAll(async () => {
  m = await startSecureMesh(["clawd", "nova"]);
  xdg = mkdtempSync(join(tmpdir(), "mesh-ctx-it-"));
  mkdirSync(join(xdg, "nats", "context"), { recursive: true });
}, 60_000);

afterAll(async () => {
  await m?.stop();
});

const context = (name: string, body: Record<string, unknown>) => writeFileSync(join(xdg, "nats", "context", `${name}.json`), JSON.stringify(body));
// MESH_SERVER is not set: the server comes from the context (m.env would set it).
const env = () => ({ MESH_HOME: m.home, XDG_CONFIG_HOME: xdg, MESH_IDENTITY: "clawd" });

describe("natscli contexts", () => {
  it("mesh --context <name> sends with the context's url and creds file; the same with an nkey seed file; the context selected in context.txt applies without --context", async () => {
    context("clawd-creds", { description: "clawd via creds", url: m.server, creds: m.creds("clawd") });
    const a = await mesh(["send", "nova", "via a natscli context", "--context", "clawd-creds"], { env: env() });
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/^sent \S+ to nova/);

    context("clawd-nkey", { url: m.server, creds: "", nkey: m.creds("clawd") });
    const b = await mesh(["send", "nova", "via an nkey context"], { env: { ...env(), MESH_CONTEXT: "clawd-nkey" } });
    expect(b.code, b.stderr).toBe(0);

    writeFileSync(join(xdg, "nats", "context.txt"), "clawd-creds\n");
    const c = await mesh(["send", "nova", "via the selected context"], { env: env() });
    expect(c.code, c.stderr).toBe(0);
    // What nova's inbox holds: the three, signed by clawd (read with the admin credential).
    const seen = await mesh(["sub", "agent.nova.inbox.*", "--last", "3", "--count", "3", "--creds", join(m.state, "admin.nk"), "--server", m.server], { env: { MESH_HOME: m.home } });
    expect(seen.stdout).toContain("via a natscli context");
    expect(seen.stdout).toContain("via an nkey context");
    expect(seen.stdout).toContain("via the selected context");
  });

  it("a context holding nova's key but used as clawd is refused before connecting; one with a key the broker does not know is refused by the server", async () => {
    context("wrong-id", { url: m.server, creds: m.creds("nova") });
    const r = await mesh(["send", "nova", "x", "--context", "wrong-id"], { env: env() });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe(`mesh: credentials ${m.creds("nova")} belong to nova, but this runs as clawd: pass --identity nova (or set identity in the config)`);
    // A seed the broker never registered.
    const stranger = join(xdg, "stranger.nk");
    const { createUser } = await import("@nats-io/nkeys");
    writeFileSync(stranger, `${new TextDecoder().decode(createUser().getSeed())}\n`, { mode: 0o600 });
    context("stranger", { url: m.server, nkey: stranger });
    const s = await mesh(["send", "nova", "x", "--context", "stranger"], { env: env() });
    expect(s.code).not.toBe(0);
    expect(s.stderr).toMatch(/^mesh: broker at nats:\/\/127\.0\.0\.1:\d+ refused the credentials: .*Authorization Violation/);
    expect(readFileSync(join(xdg, "nats", "context", "stranger.json"), "utf8")).toContain(stranger);
  });
});
