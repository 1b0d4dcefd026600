/**
 * openclaw-mesh as a library: everything the `mesh` CLI does, without the CLI. Values first, then
 * types. The protocol (subjects, envelopes, names) is re-exported whole from subjects/.
 */
export * from "../subjects/mod.js";
export { provision, ensureInboxConsumer, ensureJobConsumer, ensureHookConsumer, LegacyStreamsError } from "../broker/provision.js";
export { startLocalBroker } from "../broker/local.js";
export { brokerStatus } from "../broker/status.js";
export { MeshError, ConfigError, BrokerUnreachableError, CredentialsRefusedError } from "./base/errors.js";
export { createLogger } from "./base/log.js";
export { VERSION } from "./base/version.js";
export { connectMesh, parseServers } from "./bus/connection.js";
export { publishEnvelope, publishRaw, sendMessage } from "./bus/publish.js";
export { subscribe } from "./bus/subscribe.js";
export { consumeDurable, SlotPool } from "./bus/consume.js";
export { openclawHooksAgent } from "./agent/openclaw-hooks/adapter.js";
export { ask } from "./features/asks/client.js";
export { submitJob, jobStatus, listJobs, cancelJob, waitForJob } from "./features/jobs/client.js";
export { JobRecordsFullError } from "./features/jobs/store.js";
export { listPeers } from "./features/presence/presence.js";
export { resolveConfig, connectionOf } from "./config/config.js";
export { loadNatsContext, selectedContextName } from "./config/nats-context.js";
export { Sidecar } from "./sidecar/sidecar.js";
export { sidecarFromConfig, agentFromConfig } from "./sidecar/from-config.js";

export type { LocalBroker, LocalBrokerOptions } from "../broker/local.js";
export type { ProvisionReport, Change } from "../broker/provision.js";
export type { Logger } from "./base/log.js";
export type { ConnectOptions } from "./bus/connection.js";
export type { Published } from "./bus/publish.js";
export type { SeenMessage, SubscribeOptions } from "./bus/subscribe.js";
export type { ConsumeOptions, Slots } from "./bus/consume.js";
export type {
  AgentPort,
  PeerMessage,
  JobTurn,
  AutomationTurn,
  ReplyTicket,
  DeliveryResult,
  RunReply,
  CallOptions,
  GatewayEventSource,
} from "./agent/port.js";
export type { OpenclawHooksOptions, RunReplySource } from "./agent/openclaw-hooks/adapter.js";
export type { AskResult } from "./features/asks/client.js";
export type { SubmitOptions, JobView } from "./features/jobs/client.js";
export type { Peer, PeerState } from "./features/presence/presence.js";
export type { GlobalOptions, Resolved, MeshConfig } from "./config/config.js";
export type { NatsContext, ContextAuth } from "./config/nats-context.js";
export type { SidecarOptions } from "./sidecar/sidecar.js";
export type { SidecarFlags } from "./sidecar/from-config.js";
