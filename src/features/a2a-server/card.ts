import type { AgentCard } from "@a2a-js/sdk";

/**
 * Agent Cards in their JSON form (what `/.well-known/agent-card.json` serves and what the SDK's
 * signer canonicalizes): one per mesh identity reachable through this sidecar, and one for the
 * sidecar listing them all as skills.
 */
export const JSONRPC_PATH = "v1";
export const REST_PATH = "rest";

export function peerBase(base: string, peer: string): string {
  return `${base}/a2a/peers/${peer}`;
}

const security = {
  securitySchemes: { bearer: { httpAuthSecurityScheme: { scheme: "Bearer", description: "a token this sidecar issued: the gateway's outboundToken for the peer, or a client's from sidecar.a2aClients" } } },
  securityRequirements: [{ schemes: { bearer: { list: [] } } }],
};

function interfaces(base: string, peer: string): Array<{ url: string; protocolBinding: string; protocolVersion: string }> {
  return [
    { url: `${peerBase(base, peer)}/${JSONRPC_PATH}`, protocolBinding: "JSONRPC", protocolVersion: "1.0" },
    { url: `${peerBase(base, peer)}/${REST_PATH}`, protocolBinding: "HTTP+JSON", protocolVersion: "1.0" },
  ];
}

function skill(base: string, peer: string) {
  return {
    id: peer,
    name: peer,
    description: peer.startsWith("jobs.") ? `submit a job (${peer}) as this identity; the result is the answer` : `the agent ${peer} on the mesh (JSON-RPC ${peerBase(base, peer)}/${JSONRPC_PATH})`,
    tags: ["openclaw-mesh"],
  };
}

/** The card of one mesh identity, as reached through this sidecar (`<base>/a2a/peers/<peer>`). */
export function peerCard(o: { self: string; base: string; peer: string; version: string }): AgentCard {
  return {
    name: `${o.peer} (openclaw-mesh, via ${o.self})`,
    description: `The mesh identity ${o.peer}, reached through ${o.self}'s sidecar. A message is stored on ${o.peer}'s durable inbox (SUBMITTED), delivered to its gateway when that Mac is up (WORKING), and its answer is the task's artifact (COMPLETED).`,
    version: o.version,
    supportedInterfaces: interfaces(o.base, o.peer),
    capabilities: { streaming: true, pushNotifications: false, extendedAgentCard: false },
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: [skill(o.base, o.peer)],
    ...security,
  } as unknown as AgentCard;
}

/** The sidecar's own card: every identity it reaches, as a skill and an interface each. */
export function sidecarCard(o: { self: string; base: string; peers: string[]; version: string }): AgentCard {
  return {
    name: `openclaw-mesh via ${o.self}`,
    description: `The openclaw-mesh identities reachable through ${o.self}'s sidecar; each has its own card at <url>/.well-known/agent-card.json and its own JSON-RPC and REST URLs (messages are stored on the mesh and delivered when that Mac is up).`,
    version: o.version,
    supportedInterfaces: o.peers.flatMap((p) => interfaces(o.base, p)),
    capabilities: { streaming: true, pushNotifications: false, extendedAgentCard: false },
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: o.peers.map((p) => skill(o.base, p)),
    ...security,
  } as unknown as AgentCard;
}
