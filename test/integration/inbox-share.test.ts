/**
 * A sender's share of an inbox (IdentityLimits.inboxPerSender, discard new per lane) bounds what
 * WAITS for the recipient, not everything the sender ever sent: the recipient's sidecar removes each
 * message once it is done with it. Secure mesh (real nats-server, per-identity credentials): nova's
 * sidecar deletes from its own inbox; another identity may not.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { provisionIdentity } from "../../broker/provision.js";
import { DEFAULT_IDENTITY_LIMITS } from "../../broker/definitions.js";
import { publishToInbox } from "../../src/bus/publish.js";
import { newEnvelope } from "../../subjects/mod.js";
import { inboxStreamName } from "../../subjects/names.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { startHooksEndpoint, type HooksEndpoint } from "../support/hooks-endpoint.js";
import { deniedPublish, startSecureMesh, type SecureMesh } from "../support/secure-mesh.js";
import { testSidecar, until } from "../support/sidecar.js";
import { mesh } from "../support/cli.js";

const SHARE = 5;
const ROUNDS = 4;
let m: SecureMesh;
let hooks: HooksEndpoint;
let nova: Sidecar;

beforeAll(async () => {
  m = await startSecureMesh(["nova", "clawd", "lyra"]);
  // The admin gives nova's inbox a small share per sender (the default is 1 000).
  await provisionIdentity(await jetstreamManager(m.admin), "nova", { limits: { ...DEFAULT_IDENTITY_LIMITS, inboxPerSender: SHARE } });
  hooks = await startHooksEndpoint();
  nova = await testSidecar({ identity: "nova", server: m.server, creds: m.creds("nova"), gatewayUrl: hooks.url, hooksToken: hooks.token, jobs: false });
});

afterAll(async () => {
  await nova?.stop("test done");
  await hooks?.close();
  await m?.stop();
});

describe("an inbox share counts what waits", () => {
  it(`clawd sends ${ROUNDS} × a share of ${SHARE} (each round once the last was delivered): every message is accepted and delivered once, in order, and nova's sidecar leaves its inbox empty`, async () => {
    const clawd = await m.as("clawd");
    const ajsm = await jetstreamManager(m.admin);
    const sent: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < SHARE; i++) {
        const env = newEnvelope({ from: "clawd", to: "nova", kind: "message", body: `r${round}-${i}` });
        await publishToInbox(clawd, env);
        sent.push(env.body as string);
      }
      await until(`round ${round} delivered and removed`, async () => {
        const delivered = hooks.received.length === sent.length;
        const left = (await ajsm.streams.info(inboxStreamName("nova"))).state.messages;
        return delivered && left === 0;
      }, 20_000);
    }
    expect(hooks.received.map((h) => /r\d+-\d+/.exec(h.body?.message ?? "")?.[0])).toEqual(sent);
    expect(nova.inbox?.stats.delivered).toBe(ROUNDS * SHARE);
  });

  it("lyra deleting a message from nova's inbox is refused by the server (Permissions Violation)", async () => {
    const lyra = await m.as("lyra");
    const ajsm = await jetstreamManager(m.admin);
    const seq = (await ajsm.streams.info(inboxStreamName("nova"))).state.last_seq;
    await expect((await jetstreamManager(lyra, { checkAPI: false })).streams.deleteMessage(inboxStreamName("nova"), seq, false)).rejects.toThrow(
      deniedPublish(`$JS.API.STREAM.MSG.DELETE.${inboxStreamName("nova")}`),
    );
  });

  it("a broker whose permissions predate the delete grant (auth.conf without it): the server refuses nova's delete; `mesh broker init` renders the permissions anew from the registry and reloads, and then the server takes nova's delete", async () => {
    const authFile = join(m.state, "auth.conf");
    const grant = `"$JS.API.STREAM.MSG.DELETE.${inboxStreamName("nova")}", `;
    const current = readFileSync(authFile, "utf8");
    expect(current).toContain(grant);
    writeFileSync(authFile, current.replace(grant, ""));
    process.kill(Number(readFileSync(join(m.state, "nats-server.pid"), "utf8")), "SIGHUP");
    const novaNc = await m.as("nova");
    const novaJsm = await jetstreamManager(novaNc, { checkAPI: false });
    // A sequence that is not there: with the grant the stream itself answers that it has no such message.
    const attempt = () => novaJsm.streams.deleteMessage(inboxStreamName("nova"), 999_999, false).then(() => "deleted", (e: Error) => e.message);
    const refused = await until("the reloaded broker refuses nova's delete", async () => {
      const r = await attempt();
      return deniedPublish(`$JS.API.STREAM.MSG.DELETE.${inboxStreamName("nova")}`).test(r) && r;
    }, 10_000);
    expect(refused).toMatch(/^Permissions Violation for Publish to/);

    const init = await mesh(["broker", "init"], { env: m.env });
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain("permissions rendered anew from the registry (this release grants more); running broker reloaded");
    expect(readFileSync(authFile, "utf8")).toBe(current);
    let last = "";
    const reached = await until("nova's delete reaches the stream", async () => {
      last = await attempt();
      return !last.startsWith("Permissions Violation") && last;
    }, 10_000).catch((e: Error) => `${e.message}; last answer: ${last}`);
    // The stream's own answer for a sequence it does not hold (2.9.10: past the last one, "stream store EOF").
    expect(reached).toMatch(/^(no message found|stream store EOF)$/);
    // Run again with nothing to change: no reload.
    const again = await mesh(["broker", "init"], { env: m.env });
    expect(again.stdout).not.toContain("rendered anew");
  });
});
