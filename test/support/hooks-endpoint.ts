// The hooks-contract stand-in lives in src/bench (used by `mesh bench` too).
export { startHooksEndpoint } from "../../src/bench/hooks-endpoint.js";
export type { HooksEndpoint, ReceivedHook, Responder } from "../../src/bench/hooks-endpoint.js";
