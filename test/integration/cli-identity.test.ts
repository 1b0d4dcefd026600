/**
 * `mesh identity add|revoke|list` against a REAL secure nats-server (started by the real CLI), and
 * the earlier spellings `mesh broker add-identity` / `mesh broker revoke` doing the same: the
 * server admits what `identity add` issued and refuses, with its own text, what `identity revoke`
 * removed. `--broker-state-dir` (and the hidden `--state-dir`) pick the broker's folder.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectMesh } from "../../src/bus/connection.js";
import { mesh } from "../support/cli.js";
import { startSecureMesh, type SecureMesh } from "../support/secure-mesh.js";

let m: SecureMesh;

beforeAll(async () => {
  // startSecureMesh issues nova with the earlier spelling (mesh broker add-identity nova).
  m = await startSecureMesh(["nova"]);
}, 60_000);

afterAll(async () => {
  await m?.stop();
});

const listed = async (args: string[] = []): Promise<Array<{ identity: string; capabilities?: string[]; alerts?: boolean; publicKey: string }>> => {
  const r = await mesh(["identity", "list", "--json", ...args], { env: m.env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe("mesh identity", () => {
  it("add issues a credential the server admits, with the grants list shows; list also shows the identity the old `broker add-identity` issued", async () => {
    const r = await mesh(["identity", "add", "clawd", "--capabilities", "gpu,xcode", "--alerts"], { env: m.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("registered clawd (");
    const nc = await connectMesh({ server: m.server, creds: m.creds("clawd"), identity: "clawd" });
    await nc.close();
    const ids = await listed();
    expect(ids.map((i) => i.identity)).toEqual(["clawd", "nova"]);
    expect(ids[0]).toMatchObject({ identity: "clawd", capabilities: ["gpu", "xcode"], alerts: true });
    expect(ids[1]!.publicKey).toMatch(/^U[A-Z0-9]{55}$/);
  });

  it("revoke: the server refuses the credential with its own 'Authorization Violation', and list no longer shows it", async () => {
    const r = await mesh(["identity", "revoke", "clawd"], { env: m.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("revoked clawd; the broker reloaded and refuses it now");
    await expect(connectMesh({ server: m.server, creds: m.creds("clawd"), identity: "clawd" })).rejects.toThrow(/refused the credentials: Authorization Violation$/);
    expect((await listed()).map((i) => i.identity)).toEqual(["nova"]);
  });

  it("the earlier spelling `mesh broker revoke` is the same command: nova is refused by the server after it", async () => {
    const r = await mesh(["broker", "revoke", "nova"], { env: m.env });
    expect(r.code, r.stderr).toBe(0);
    await expect(connectMesh({ server: m.server, creds: m.creds("nova"), identity: "nova" })).rejects.toThrow(/refused the credentials: Authorization Violation$/);
    expect(await listed()).toEqual([]);
  });

  it("--broker-state-dir and the hidden --state-dir name the broker's folder: an empty one is refused in one line naming it", async () => {
    const empty = mkdtempSync(join(tmpdir(), "mesh-nobroker-"));
    for (const flag of ["--broker-state-dir", "--state-dir"]) {
      const r = await mesh(["identity", "list", flag, empty], { env: m.env });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`mesh: this broker is not set up for authentication yet: run \`mesh broker init\` (state ${empty})\n`);
    }
    expect(await listed(["--broker-state-dir", m.state])).toEqual([]);
  });

  it("broker add-mac takes the broker's folder from --broker-state-dir, not the default one: with MESH_HOME elsewhere it adds the Mac and writes its leaf credential there", async () => {
    expect((await mesh(["identity", "add", "orion"], { env: m.env })).code).toBe(0);
    const elsewhere = mkdtempSync(join(tmpdir(), "mesh-elsewhere-"));
    const r = await mesh(["broker", "add-mac", "orion", "--identities", "orion", "--broker-state-dir", m.state], { env: { ...m.env, MESH_HOME: elsewhere } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("added Mac orion hosting orion");
    expect(existsSync(join(m.state, "creds", "leaf-orion.leaf"))).toBe(true);
    expect(existsSync(join(elsewhere, "broker"))).toBe(false);
  });

  it("`mesh broker --help` names the identity commands and hides the earlier spellings; `mesh --help` lists identity", async () => {
    const broker = await mesh(["broker", "--help"]);
    expect(broker.stdout).toContain("Identities and their credentials: mesh identity add|revoke|list");
    expect(broker.stdout).not.toMatch(/^\s+add-identity /m);
    expect(broker.stdout).not.toMatch(/^\s+revoke /m);
    expect((await mesh(["--help"])).stdout).toMatch(/^\s+identity\s+issue, revoke and list the identities/m);
  });
});
