/**
 * The shared integration fixture: a real nats-server (support/broker.ts), provisioned, one
 * connection to it, a hooks stand-in for the gateway (support/hooks-endpoint.ts), and sidecars
 * made the way users get them (support/sidecar.ts testSidecar: a config file → sidecarFromConfig).
 * One stop() ends every sidecar it made, the stand-in, the connection and the broker.
 *
 *   let m: TestMesh;
 *   beforeAll(async () => (m = await startMesh()));
 *   afterAll(() => m?.stop());
 *   const s = await m.sidecar("nova", { jobs: false });
 *   await m.event("clawd", "job.failed", { … });
 */
import type { NatsConnection } from "@nats-io/nats-core";
import { connectMesh } from "../../src/bus/connection.js";
import { provision } from "../../broker/provision.js";
import { publishEnvelope } from "../../src/bus/publish.js";
import type { Sidecar } from "../../src/sidecar/sidecar.js";
import { eventSubject, newEnvelope } from "../../subjects/mod.js";
import { startBroker, type BrokerKind, type TestBroker } from "./broker.js";
import { startHooksEndpoint, type HooksEndpoint } from "./hooks-endpoint.js";
import { testSidecar, type TestSidecarOptions } from "./sidecar.js";

export type MeshSidecar = Awaited<ReturnType<typeof testSidecar>>;

export interface TestMesh {
  broker: TestBroker;
  /** A connection to the broker (no identity: an open mesh). */
  nc: NatsConnection;
  /** The gateway stand-in every sidecar posts to unless told otherwise. */
  gateway: HooksEndpoint;
  /** A sidecar for `identity` on this broker and gateway stand-in, started; stopped by stop(). */
  sidecar(identity: string, o?: Partial<TestSidecarOptions>): Promise<MeshSidecar>;
  /** Stops one sidecar made here now (a test of what happens without it). */
  stopSidecar(s: Sidecar, reason?: string): Promise<void>;
  /** Stops every sidecar made so far, newest first (between tests). */
  stopSidecars(reason?: string): Promise<void>;
  /** A sidecar the test ended itself (e.g. closed its connection): stop() leaves it alone. */
  forget(s: Sidecar): void;
  /** Publishes events.<from>.<kind> from `from` with `body` (an unsigned envelope); its id. */
  event(from: string, kind: string, body: unknown): Promise<string>;
  stop(): Promise<void>;
}

export async function startMesh(o: { broker?: { kind?: BrokerKind; fixedPort?: boolean }; provision?: boolean; hooksToken?: string } = {}): Promise<TestMesh> {
  const broker = await startBroker(o.broker ?? {});
  const nc = await connectMesh({ server: broker.url });
  if (o.provision !== false) await provision(nc);
  const gateway = await startHooksEndpoint(o.hooksToken ? { token: o.hooksToken } : {});
  const running = new Set<Sidecar>();
  return {
    broker,
    nc,
    gateway,
    async sidecar(identity, extra = {}) {
      const s = await testSidecar({ identity, server: broker.url, gatewayUrl: gateway.url, hooksToken: gateway.token, ...extra });
      running.add(s);
      return s;
    },
    async stopSidecar(s, reason = "test stop") {
      running.delete(s);
      await s.stop(reason);
    },
    async stopSidecars(reason = "test done") {
      for (const s of [...running].reverse()) {
        running.delete(s);
        await s.stop(reason);
      }
    },
    forget(s) {
      running.delete(s);
    },
    async event(from, kind, body) {
      const env = newEnvelope({ from, to: "*", kind: "event", type: kind, body });
      await publishEnvelope(nc, eventSubject(from, ...kind.split(".")), env);
      return env.id;
    },
    async stop() {
      await Promise.all([...running].map((s) => s.stop("test done").catch(() => undefined)));
      running.clear();
      await gateway.close();
      await nc.close();
      await broker.stop();
    },
  };
}
