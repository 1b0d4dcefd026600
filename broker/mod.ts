export { renderServerConfig, CONTAINER_CONFIG, DEFAULT_CLIENT_PORT, DEFAULT_MONITOR_PORT, DEFAULT_MAX_PAYLOAD, monitorExposedWarning } from "./server-config.js";
export { PRESENCE_TTL_MS, streamDefinitions, inboxConsumer } from "./definitions.js";
export { provision, ensureStream, ensureInboxConsumer, ensureBuckets } from "./provision.js";
export { startLocalBroker, findNatsServer, isListening, waitForPort, INSTALL_HINT } from "./local.js";
export { brokerStatus } from "./status.js";
export type { ServerConfigOptions } from "./server-config.js";
export type { ProvisionReport, Change } from "./provision.js";
export type { LocalBroker, LocalBrokerOptions } from "./local.js";
export type { BrokerStatus, StreamStatus } from "./status.js";
