/**
 * The shared integration fixture: a real nats-server (support/broker.ts), provisioned, one
 * connection to it, a hooks stand-in for the gateway (support/hooks-endpoint.ts), and sidecars
 * made the way users get them (support/sidecar.ts testSidecar: a config file → sidecarFromConfig).
 * One stop() ends every sidecar and stand-in it made, the connection and the broker (each step
 * runs even when an earlier one failed: nothing is left running).
 *
 *   let m: TestMesh;
 *   beforeAll(async () => (m = await startMesh()));
 *   afterAll(() => m?.stop());
 *   const s = await m.sidecar("nova", { jobs: false });
 *   await m.event("clawd", "job.failed", { … });
 *
 * Options (all optional):
 * - broker: { fixedPort: true } when the test stops and starts it through m.broker (down/up/restart);
 * - provision: false for a broker the test provisions itself (the CLI) or checks empty;
 *   { identities } to make those identities' inboxes as well (provision --for);
 * - persistent: m.nc reconnects forever, as a sidecar's connection does (the broker is restarted);
 * - hooksToken: the stand-in's hooks token.
 * A sidecar for another gateway (a real OpenClaw gateway, or m.extraGateway(), one stand-in per
 * machine) passes gatewayUrl/hooksToken (and gatewayToken, gatewayConfigFile) to m.sidecar(); a
 * test of a broker the CLI starts (`mesh broker up`) uses support/secure-mesh.ts instead.
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

export interface MeshOptions {
  broker?: { kind?: BrokerKind; fixedPort?: boolean };
  provision?: boolean | { identities: string[] };
  persistent?: boolean;
  hooksToken?: string;
}

export interface TestMesh {
  broker: TestBroker;
  /** A connection to the broker (no identity: an open mesh). */
  nc: NatsConnection;
  /** The gateway stand-in every sidecar posts to unless told otherwise. */
  gateway: HooksEndpoint;
  /** Another hooks stand-in (another machine's gateway), closed by stop(). */
  extraGateway(o?: { token?: string }): Promise<HooksEndpoint>;
  /** A sidecar for `identity` on this broker and gateway stand-in, started; stopped by stop(). */
  sidecar(identity: string, o?: Partial<TestSidecarOptions>): Promise<MeshSidecar>;
  /** Stops one sidecar made here now (a test of what happens without it). */
  stopSidecar(s: Sidecar, reason?: string): Promise<void>;
  /** Stops every sidecar made so far, newest first (between tests, or before their gateways stop). */
  stopSidecars(reason?: string): Promise<void>;
  /** A sidecar the test ended itself (e.g. closed its connection): stop() leaves it alone. */
  forget(s: Sidecar): void;
  /** Publishes events.<from>.<kind> from `from` with `body` (an unsigned envelope); its id. */
  event(from: string, kind: string, body: unknown): Promise<string>;
  stop(): Promise<void>;
}

export async function startMesh(o: MeshOptions = {}): Promise<TestMesh> {
  const broker = await startBroker(o.broker ?? {});
  const nc = await connectMesh({ server: broker.url, ...(o.persistent ? { persistent: true } : {}) });
  if (o.provision !== false) await provision(nc, typeof o.provision === "object" ? { identities: o.provision.identities } : {});
  const gateway = await startHooksEndpoint(o.hooksToken ? { token: o.hooksToken } : {});
  const gateways = [gateway];
  const running = new Set<Sidecar>();
  return {
    broker,
    nc,
    gateway,
    async extraGateway(g = {}) {
      const h = await startHooksEndpoint(g);
      gateways.push(h);
      return h;
    },
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
      const errors: unknown[] = [];
      const step = async (f: () => Promise<unknown>) => {
        try {
          await f();
        } catch (e) {
          errors.push(e);
        }
      };
      await Promise.all([...running].map((s) => s.stop("test done").catch(() => undefined)));
      running.clear();
      for (const g of gateways.splice(0)) await step(() => g.close());
      await step(() => nc.close());
      await step(() => broker.stop());
      if (errors.length > 0) throw errors[0];
    },
  };
}
