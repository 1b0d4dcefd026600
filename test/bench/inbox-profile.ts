/**
 * `node --cpu-prof node_modules/vite-node/vite-node.mjs test/bench/inbox-profile.ts [--secure] [--n 6000]`:
 * the inbox at saturation, for a CPU profile: N messages from 4 senders
 * published as fast as the broker takes them into one sidecar's inbox; prints msgs/s delivered to
 * the stand-in gateway and, beside it, raw nats.js consume+ack of the same N on another inbox.
 */
import { parseArgs } from "node:util";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { startLocalBroker } from "../../broker/local.js";
import { provision, provisionIdentity } from "../../broker/provision.js";
import { connectMesh } from "../../src/bus/connection.js";
import { encodeEnvelope, inboxSubject, newEnvelope } from "../../subjects/mod.js";
import { inboxConsumerName, inboxStreamName } from "../../subjects/names.js";
import { startHooksEndpoint } from "../support/hooks-endpoint.js";
import { testSidecar } from "../support/sidecar.js";
import { startSecureMesh } from "../support/secure-mesh.js";

const { values } = parseArgs({ options: { secure: { type: "boolean" }, n: { type: "string" } }, allowPositionals: true });
const N = Number(values.n ?? 6000);
const SENDERS = 4;
const senders = Array.from({ length: SENDERS }, (_, i) => `s${i}`);

async function main(): Promise<void> {
  let server: string;
  let creds: ((id: string) => string) | undefined;
  let stop: () => Promise<void>;
  let signerOf: ((id: string) => { sign: (e: ReturnType<typeof newEnvelope>) => ReturnType<typeof newEnvelope> }) | undefined;
  if (values.secure) {
    const m = await startSecureMesh(["sink", "rawsink", ...senders]);
    server = m.server;
    creds = (id) => m.creds(id);
    signerOf = (id) => m.signer(id);
    stop = () => m.stop();
  } else {
    const dir = mkdtempSync(join(tmpdir(), "mesh-prof-"));
    const b = await startLocalBroker({ stateDir: dir, port: 14222 + Math.floor(Math.random() * 1000), monitorPort: 18222 + Math.floor(Math.random() * 1000), serverName: "prof" });
    server = b.url;
    stop = async () => {
      await b.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    const nc = await connectMesh({ server });
    await provision(nc, { identities: ["sink", "rawsink"] });
    await nc.close();
  }

  const hooks = await startHooksEndpoint({ token: "t" });
  hooks.record = false;
  const sc = await testSidecar({ identity: "sink", server, gatewayUrl: hooks.url, hooksToken: "t", jobs: false, ...(creds ? { creds: creds("sink") } : {}) });
  let got = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  hooks.onHook = () => {
    if (++got === N) done();
  };
  const pubs = await Promise.all(senders.map((s) => connectMesh({ server, ...(creds ? { creds: creds(s), identity: s } : {}) })));
  const signers = new Map(senders.map((s) => [s, signerOf ? signerOf(s) : undefined] as const));
  const envs = Array.from({ length: N }, (_, i) => {
    const from = senders[i % SENDERS]!;
    const e = newEnvelope({ from, to: "sink", kind: "message", body: `#${i}# profile` });
    return { from, env: signerOf ? signers.get(from)!.sign(e) : e };
  });
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const { from, env } = envs[i]!;
    pending.push(jetstream(pubs[i % SENDERS]!).publish(inboxSubject("sink", from), encodeEnvelope(env), { msgID: env.id }));
    if (pending.length >= 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const published = performance.now();
  const tick = setInterval(() => console.log(`got ${got}`), 2000);
  await all;
  clearInterval(tick);
  const t = (performance.now() - t0) / 1000;
  console.log(`mesh${values.secure ? " (secure)" : ""}: ${N} delivered in ${t.toFixed(2)} s = ${Math.round(N / t)} msg/s (publish took ${((published - t0) / 1000).toFixed(2)} s)`);
  await sc.stop("done");

  // raw: the same N published, then consumed and acked by a bare nats.js consumer.
  const rawPending: Promise<unknown>[] = [];
  const r0 = performance.now();
  for (let i = 0; i < N; i++) {
    const { from, env } = envs[i]!;
    const e2 = { ...env, id: `${env.id}-r`, to: "rawsink" };
    rawPending.push(jetstream(pubs[i % SENDERS]!).publish(inboxSubject("rawsink", from), encodeEnvelope(e2), { msgID: e2.id }));
    if (rawPending.length >= 256) await Promise.all(rawPending.splice(0));
  }
  await Promise.all(rawPending);
  const rc = await connectMesh({ server, ...(creds ? { creds: creds("rawsink"), identity: "rawsink" } : {}) });
  if (!values.secure) await provisionIdentity(await jetstreamManager(rc), "rawsink");
  const c = await jetstream(rc).consumers.get(inboxStreamName("rawsink"), inboxConsumerName("rawsink"));
  let rawGot = 0;
  const it = await c.consume({ max_messages: 256 });
  for await (const m of it) {
    JSON.parse(new TextDecoder().decode(m.data));
    m.ack();
    if (++rawGot === N) break;
  }
  const rt = (performance.now() - r0) / 1000;
  console.log(`raw: ${N} published+consumed in ${rt.toFixed(2)} s = ${Math.round(N / rt)} msg/s`);
  await rc.close();
  for (const p of pubs) await p.close();

  await hooks.close();
  await stop();
}
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
