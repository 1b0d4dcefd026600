/**
 * A sender's share of an inbox (IdentityLimits.inboxPerSender, discard new per lane) bounds what
 * WAITS for the recipient, not everything the sender ever sent: the recipient's sidecar removes each
 * message once it is done with it. Secure mesh (real nats-server, per-identity credentials): nova's
 * sidecar deletes from its own inbox; another identity may not.
 */
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
});
