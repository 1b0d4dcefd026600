/**
 * The sidecar: wiring only. Over 300 lines on purpose: the order in which its parts start (one
 * named step each, start() → startParts()) and the reverse order in which they stop are kept in
 * one file, to be read and changed together.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { provisionIdentity } from "../../broker/provision.js";
import { provisionLeaf } from "../../broker/leaf-provision.js";
import { OutboxTrimmer } from "../features/inbox/leaf-outbox.js";
import { identity as checkIdentity, inboxConsumerName } from "../../subjects/mod.js";
import { connectMesh } from "../bus/connection.js";
import type { Logger } from "../base/log.js";
import { VERSION } from "../base/version.js";
import { AskResponder } from "../features/asks/responder.js";
import { DeliveredJournal } from "../features/inbox/delivered-journal.js";
import { EventPublisher } from "../bus/events.js";
import { InboxConsumer } from "../features/inbox/consumer.js";
import { PresenceHeartbeat } from "../features/presence/presence.js";
import { MeshVerifier } from "../bus/verify.js";
import { SEALING_KEYS_FILE, startSealing } from "../bus/sealing.js";
import { JobWorker } from "../features/jobs/worker.js";
import { NativeJobs } from "../features/jobs/native.js";
import { HookRunner } from "../features/hooks/runner.js";
import type { HookRule } from "../features/hooks/rules.js";
import { GitFetcher } from "../features/repos/fetch.js";
import type { RepoConfig } from "../features/repos/config.js";
import { reposStatePath } from "../features/repos/state.js";
import { HOOK_STATS_FILE } from "../features/hooks/stats-file.js";
import { PeerAlerter, type PeerAlertConfig } from "../features/alerts/peer-alerts.js";
import type { AgentPort } from "../agent/port.js";
import type { SidecarView } from "./http.js";
import { Conversations } from "../features/conversations/conversations.js";
import type { PeerSync } from "../features/conversations/peer-sync.js";
import type { A2APeerTable } from "../agent/openclaw-a2a/peers.js";

export interface SidecarOptions {
  identity: string;
  server: string;
  creds?: string;
  /** The local agent (an adapter of src/agent/); its `events`, when present, are mirrored. */
  agent: AgentPort;
  stateDir: string;
  capabilities?: string[];
  log: Logger;
  presenceIntervalMs?: number;
  hookTimeoutMs?: number;
  /** Use an existing connection instead of opening one (tests, `mesh up`). */
  nc?: NatsConnection;
  /** Job worker: false to disable; default on with concurrency 1 on queue "default". */
  jobs?: false | { concurrency?: number; queues?: string[]; ackWaitMs?: number };
  /** Fan-out rules (config `hooks`). */
  hooks?: HookRule[];
  /** Peer-down alerts (config `alerts`); this sidecar competes for the alerter lease. */
  alerts?: PeerAlertConfig & { checkMs?: number };
  /** Ack wait of the inbox consumer (default 30 s; in-progress acks extend it while a POST runs). */
  inboxAckWaitMs?: number;
  /** Loopback port for /healthz, /metrics and the A2A endpoint (0: any free port; undefined: off). */
  httpPort?: number;
  /**
   * The A2A bridge (agent = openclaw-a2a adapter): the gateway's peer table, kept in step with the
   * mesh, and the hop limit of automatic answers.
   */
  a2a?: { table: A2APeerTable; sync: PeerSync; listen?: { host: string; port: number } };
  /** Hop limit of automatic answers between agents (default 1). */
  maxHops?: number;
  /** Shared repos (config `repos`): where git-fetch actions fetch and pinned jobs check out. */
  repos?: RepoConfig[];
  /**
   * Leaf mode (config `leaf`): `server` is this Mac's leaf server; the sidecar makes its inbox there
   * (fed from the Mac's outbox and the hub) and consumes it locally; presence and the identity
   * registry are the hub's, reached through the hub's domain.
   */
  leaf?: { mac: string; hubDomain: string };
  /** Leaf mode: how often the Mac's outbox is trimmed (default 1 s). */
  outboxTrimMs?: number;
}

type GatewayState = "up" | "down" | "unknown";

/**
 * The process next to every gateway: inbox → gateway, asks → replies, lifecycle events, presence.
 */
export class Sidecar {
  readonly self: string;
  #nc!: NatsConnection;
  #events!: EventPublisher;
  #inbox!: InboxConsumer;
  private asks!: AskResponder;
  private conversations!: Conversations;
  #jobs?: JobWorker;
  #hooks?: HookRunner;
  #alerter?: PeerAlerter;
  private presence?: PresenceHeartbeat;
  private outboxTrimmer?: OutboxTrimmer;
  /** Jobs the local agent submits through its gateway (a2a:jobs.…), with the A2A bridge. */
  private nativeJobs?: NativeJobs;
  private journal?: DeliveredJournal;
  /** The ids this inbox dead-lettered (refused again as replays); closed on stop like the delivered journal. */
  private deadLetteredJournal?: DeliveredJournal;
  private verifier?: MeshVerifier;
  private ownsConnection = false;
  private gatewayState: GatewayState = "unknown";
  /** False from a disconnect until the connection is back (the connection reconnects forever, so it is never "closed"). */
  private brokerConnected = true;
  private stopped = false;
  #http?: import("node:http").Server;

  constructor(private readonly opts: SidecarOptions) {
    this.self = checkIdentity(opts.identity);
  }

  // Read-only from outside (metrics, `mesh up`, tests); set only while the sidecar starts.
  /** Its connection to the mesh (its own, or the one it was given). */
  get nc(): NatsConnection {
    return this.#nc;
  }
  get events(): EventPublisher {
    return this.#events;
  }
  get inbox(): InboxConsumer {
    return this.#inbox;
  }
  /** The job worker, when jobs are on and it started. */
  get jobs(): JobWorker | undefined {
    return this.#jobs;
  }
  /** The hook rules' runner, when there are rules. */
  get hooks(): HookRunner | undefined {
    return this.#hooks;
  }
  get alerter(): PeerAlerter | undefined {
    return this.#alerter;
  }
  /** Its loopback HTTP server (/healthz, /metrics, the A2A endpoint), once listening. */
  get http(): import("node:http").Server | undefined {
    return this.#http;
  }

  /** The local agent's adapter (tests wait for its live link with `agent.events?.connected()`). */
  get agent(): AgentPort {
    return this.opts.agent;
  }

  get gatewayStatus(): GatewayState {
    return this.gatewayState;
  }

  /**
   * Starts every part, or none: if any part fails, what had started is stopped (its presence entry
   * deleted, so it never looks online) and the error is thrown for the caller to exit non-zero.
   */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, "sidecar failed to start; stopping what had started");
      await this.stop("start failed").catch((e: Error) => this.opts.log.warn({ err: e.message }, "stop after a failed start"));
      throw err;
    }
  }

  /** The parts, in the order they start (each step below). */
  private async startParts(): Promise<void> {
    const { log } = this.opts;
    await this.connect();
    await this.ensureOwnStreams();
    await this.buildParts();
    await this.announce();
    await this.startHttp();
    this.#inbox.start();
    if (this.opts.leaf) {
      // The Mac's outbox keeps what is not delivered yet (leaf-outbox.ts); every sidecar of the Mac trims it.
      this.outboxTrimmer = new OutboxTrimmer({ nc: this.#nc, mac: this.opts.leaf.mac, log, ...(this.opts.outboxTrimMs ? { everyMs: this.opts.outboxTrimMs } : {}) });
      this.outboxTrimmer.start();
    }
    await this.startHookRules();
    await this.startAlerter();
    await this.startJobWorker();
    log.info({ identity: this.self, server: this.opts.server, gateway: this.opts.agent.url }, "sidecar started");
  }

  /** The connection given (tests, `mesh up`), or this identity's own, reconnecting forever. */
  private async connect(): Promise<void> {
    if (this.opts.nc) this.#nc = this.opts.nc;
    else {
      this.#nc = await connectMesh({
        server: this.opts.server,
        ...(this.opts.creds ? { creds: this.opts.creds } : {}),
        name: `mesh-sidecar-${this.self}`,
        identity: this.self,
        persistent: true,
        timeoutMs: 5000,
        ...(this.opts.leaf ? { hubDomain: this.opts.leaf.hubDomain } : {}),
      });
      this.ownsConnection = true;
    }
    void this.watchConnection();
  }

  /** Its inbox, dead letters and inbox consumer, where it may make them (ensureInbox: the leaf or the broker). */
  private async ensureOwnStreams(): Promise<void> {
    await this.ensureInbox();
  }

  /** Events, the journals, the verifier, asks, conversations, the inbox consumer (not yet pulling) and presence. */
  private async buildParts(): Promise<void> {
    const { log } = this.opts;
    this.#events = new EventPublisher(this.#nc, this.self, log);
    this.journal = new DeliveredJournal(join(this.opts.stateDir, "delivered.log"));
    this.verifier = await MeshVerifier.open(this.#nc, log);
    const verifier = this.verifier;
    // Sealed bodies (secure mesh): this identity's curve keys, made here and never sent anywhere.
    await startSealing(this.#nc, this.self, join(this.opts.stateDir, SEALING_KEYS_FILE), verifier, log);
    this.asks = new AskResponder(this.#nc, this.self, this.opts.agent, this.#events, log);
    this.conversations = new Conversations({
      nc: this.#nc,
      self: this.self,
      agent: this.opts.agent,
      events: this.#events,
      log,
      ...(this.opts.maxHops !== undefined ? { maxHops: this.opts.maxHops } : {}),
    });
    this.#inbox = new InboxConsumer({
      nc: this.#nc,
      self: this.self,
      agent: this.opts.agent,
      journal: this.journal,
      events: this.#events,
      log,
      ...(this.opts.hookTimeoutMs ? { hookTimeoutMs: this.opts.hookTimeoutMs } : {}),
      onArrived: (env) => this.conversations.arrived(env),
      onAccepted: (env, runId, ticket) => {
        if (env.kind === "ask") this.asks.accepted(env, runId, ticket);
        else this.conversations.accepted(env, ticket);
      },
      ...(this.opts.inboxAckWaitMs ? { workingEveryMs: Math.max(500, Math.floor(this.opts.inboxAckWaitMs / 3)) } : {}),
      onGatewayState: (up, reason) => this.setGateway(up ? "up" : "down", reason),
      verify: (env, check) => verifier.verify(env, check),
      deadLettered: (this.deadLetteredJournal = new DeliveredJournal(join(this.opts.stateDir, "dead-lettered.log"))),
      ...(this.opts.leaf ? { leaf: { mac: this.opts.leaf.mac } } : {}),
    });
    this.presence = new PresenceHeartbeat(
      this.#nc,
      {
        identity: this.self,
        version: VERSION,
        capabilities: this.opts.capabilities ?? [],
        bridge: this.opts.agent.bridge,
        ...(this.opts.jobs !== false ? { queues: this.opts.jobs?.queues ?? ["default"] } : {}),
      },
      () => this.gatewayState,
      log,
      this.opts.presenceIntervalMs,
    );
    await this.presence.start();
  }

  /** sidecar.started out, and the gateway's own events mirrored as mesh events. */
  private async announce(): Promise<void> {
    const { log } = this.opts;
    this.#events.emit("sidecar.started", {
      version: VERSION,
      host: hostname(),
      capabilities: this.opts.capabilities ?? [],
      gateway: this.opts.agent.url,
    });
    if (this.opts.agent.events) {
      try {
        await this.opts.agent.events.start((kind, body) => {
          if (kind === "gateway.shutdown") this.setGateway("down", "gateway shutting down");
          this.#events.emit(kind, body);
        });
      } catch (err) {
        log.warn({ err: (err as Error).message }, "gateway event mirror not started");
      }
    }
  }

  /** /healthz, /metrics and the A2A endpoint (when asked for), and the gateway's A2A peers kept in step. */
  private async startHttp(): Promise<void> {
    const { log } = this.opts;
    if (this.opts.httpPort !== undefined || this.opts.a2a) {
      const { startHttp } = await import("./http.js");
      const a2a = this.opts.a2a;
      if (a2a) this.nativeJobs = new NativeJobs({ nc: this.#nc, self: this.self, agent: this.opts.agent, log, ...(this.opts.repos ? { repos: this.opts.repos } : {}) });
      this.#http = await startHttp(this.view(), this.opts.httpPort ?? 0, log, a2a ? { table: a2a.table, conversations: this.conversations, verifier: this.verifier!, ...(a2a.listen ? { listen: a2a.listen } : {}), ...(this.nativeJobs ? { jobs: this.nativeJobs } : {}) } : undefined);
      if (a2a) {
        a2a.table.endpointBase = `http://127.0.0.1:${(this.#http.address() as import("node:net").AddressInfo).port}`;
        // Before the first delivery: the gateway must know every peer (and reloads when it learns one).
        await a2a.sync.start(this.#nc);
      }
    }
  }

  /** The fan-out rules of the config, each on its own consumer. */
  private async startHookRules(): Promise<void> {
    const { log } = this.opts;
    const verifier = this.verifier!;
    if (this.opts.hooks?.length) {
      this.#hooks = new HookRunner({
        nc: this.#nc,
        self: this.self,
        rules: this.opts.hooks,
        agent: this.opts.agent,
        log,
        verifier,
        statsFile: join(this.opts.stateDir, HOOK_STATS_FILE),
        ...(this.opts.repos?.length
          ? { git: new GitFetcher({ repos: this.opts.repos, events: this.#events, log, stateFile: reposStatePath(this.opts.stateDir) }) }
          : {}),
      });
      await this.#hooks.start();
    }
  }

  /** Peer-down alerts, when configured: this sidecar competes for the alerter lease. */
  private async startAlerter(): Promise<void> {
    const { log } = this.opts;
    const verifier = this.verifier!;
    if (this.opts.alerts) {
      this.#alerter = new PeerAlerter({
        nc: this.#nc,
        self: this.self,
        verifier,
        config: this.opts.alerts,
        agent: this.opts.agent,
        events: this.#events,
        log,
        ...(this.opts.alerts.checkMs ? { checkMs: this.opts.alerts.checkMs } : {}),
      });
      await this.#alerter.start();
    }
  }

  /** The job worker, unless jobs are off; one that cannot start (not granted) is logged, not fatal. */
  private async startJobWorker(): Promise<void> {
    const { log } = this.opts;
    const verifier = this.verifier!;
    // Leaf mode too: jobs and their records live on the hub, reached through its domain (worker.ts).
    if (this.opts.jobs !== false) {
      this.#jobs = new JobWorker({
        nc: this.#nc,
        self: this.self,
        agent: this.opts.agent,
        events: this.#events,
        log,
        capabilities: this.opts.capabilities ?? [],
        ...(this.opts.jobs?.queues ? { queues: this.opts.jobs.queues } : {}),
        ...(this.opts.jobs?.concurrency ? { concurrency: this.opts.jobs.concurrency } : {}),
        ...(this.opts.jobs?.ackWaitMs ? { ackWaitMs: this.opts.jobs.ackWaitMs } : {}),
        verifier,
        repos: this.opts.repos ?? [],
        worktreeRoot: join(this.opts.stateDir, "worktrees"),
      });
      try {
        await this.#jobs.start();
      } catch (err) {
        log.warn({ err: (err as Error).message }, "job worker not started");
        this.#jobs = undefined;
      }
    }
  }

  /** Its inbox, dead letters and inbox consumer: on this Mac's leaf in leaf mode (offline too), else on the broker. */
  private async ensureInbox(): Promise<void> {
    const { log } = this.opts;
    const ackWait = this.opts.inboxAckWaitMs ? { ackWaitMs: this.opts.inboxAckWaitMs } : {};
    if (this.opts.leaf) {
      // The Mac's outbox, its inbox (sourced from the outbox and the hub) and dead letters, its consumer;
      // with hook rules, its copy of the hub's events (the rules' consumers live on this leaf too).
      const report = await provisionLeaf(this.#nc, this.opts.leaf.mac, [this.self], { ...ackWait, hooks: Boolean(this.opts.hooks?.length) });
      const changed = Object.entries(report).filter(([, c]) => c !== "unchanged");
      if (changed.length) log.info({ changed: Object.fromEntries(changed), mac: this.opts.leaf.mac }, "leaf inbox ready");
      return;
    }
    try {
      const jsm = await jetstreamManager(this.#nc);
      // Its inbox, dead-letter and hook-event streams and its inbox consumer. On a secure mesh the
      // admin made them at add-identity and this identity may not change them: nothing to do then.
      // Its copy of the events only when it has hook rules (on a secure mesh, what the admin granted).
      const report = await provisionIdentity(jsm, this.self, { ...ackWait, hooks: Boolean(this.opts.hooks?.length) });
      const changed = Object.entries({ ...report.streams, ...report.consumers }).filter(([, c]) => c !== "unchanged");
      if (changed.length) log.info({ changed: Object.fromEntries(changed), consumer: inboxConsumerName(this.self) }, "inbox ready");
    } catch (err) {
      // With per-identity credentials the admin provisions consumers; a sidecar may not create them.
      log.warn({ err: (err as Error).message }, "could not ensure the inbox consumer (expecting it provisioned)");
    }
  }

  /** What /metrics and /healthz read (sidecar/http.ts), without reaching into this class. */
  view(): SidecarView {
    return {
      self: this.self,
      nc: this.#nc,
      brokerConnected: () => this.brokerConnected && !this.#nc.isClosed(),
      gateway: () => this.gatewayState,
      inbox: () => this.#inbox.stats,
      jobs: () => this.#jobs?.stats,
      hooks: () => this.#hooks?.stats,
      asksAnswered: () => this.asks.answered,
      eventsPublished: () => this.#events.published,
    };
  }

  setGateway(state: GatewayState, reason?: string): void {
    if (state === this.gatewayState) return;
    const before = this.gatewayState;
    this.gatewayState = state;
    if (state === "up") this.#events?.emit("gateway.reachable", { url: this.opts.agent.url });
    if (state === "down") this.#events?.emit("gateway.unreachable", { url: this.opts.agent.url, reason: reason ?? "unknown" });
    this.opts.log.info({ from: before, to: state, reason }, "gateway state");
    this.presence?.refresh();
  }

  private async watchConnection(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") {
        this.brokerConnected = s.type === "reconnect";
        this.opts.log.info({ status: s.type }, "broker connection");
      }
    }
  }

  async stop(reason = "stopped"): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([this.#inbox?.stop(), this.outboxTrimmer?.stop(), this.#jobs?.stop(), this.#hooks?.stop(), this.#alerter?.stop()]);
    // Answers still awaited end now ("sidecar stopping"); the broker keeps what was not acked.
    this.opts.agent.close?.();
    await this.asks?.drain();
    await this.conversations?.drain();
    await this.nativeJobs?.stop();
    this.opts.a2a?.sync.stop();
    await this.opts.agent.events?.close();
    this.#http?.close();
    // Open A2A streams (SSE) end with the sidecar; their clients resubscribe to the next one.
    this.#http?.closeAllConnections();
    this.#events?.emit("sidecar.stopped", { reason });
    await this.#events?.close();
    await this.presence?.stop();
    this.journal?.close();
    this.deadLetteredJournal?.close();
    if (this.ownsConnection) await this.#nc.drain().catch(() => undefined);
    this.opts.log.info({ reason }, "sidecar stopped");
  }
}
