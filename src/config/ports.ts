/**
 * Default ports of what a sidecar's Mac listens on, apart from the broker's (broker/server-config.ts)
 * and the sidecar's loopback HTTP port (src/sidecar/http.ts). Each is a config key and an `init` flag.
 * No zod here: the CLI reads these while it builds its help.
 */

/** The opt-in A2A listener beyond loopback (sidecar.a2aPort); the web view keeps 9470, so a listener on 0.0.0.0 never takes its port. */
export const DEFAULT_A2A_PORT = 9471;
