import { readFileSync } from "node:fs";
import { z } from "zod";
import { isIdentity } from "../../subjects/identity.js";
import { zodLine } from "../../subjects/envelope.js";
import { MAX_CAPABILITIES } from "../../subjects/jobs.js";
import { ConfigError } from "../base/errors.js";
import { ruleSchema } from "../features/hooks/rules.js";
import { reposSchema } from "../features/repos/config.js";

const identityString = z.string().refine(isIdentity, {
  message: "must be lowercase letters, digits and dashes (at most 32)",
});

/**
 * The config file's schema and loader (zod). Loaded only when a config file exists, so commands
 * that run without one do not pay for zod at start-up.
 */
export const gatewayConfigSchema = z
  .object({
    /** Base URL of the local OpenClaw gateway. */
    url: z.url().default("http://127.0.0.1:18789"),
    /** hooks.path on the gateway. */
    hooksPath: z.string().startsWith("/").default("/hooks"),
    /** hooks.token of the gateway (or hooksTokenFile). Never sent on the bus, never logged. */
    hooksToken: z.string().min(1).optional(),
    hooksTokenFile: z.string().min(1).optional(),
    /** gateway.auth.token, for the read-only WebSocket that mirrors gateway events. */
    token: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    /** Agent id to run turns on (hooks `agentId`); the gateway default when unset. */
    agentId: z.string().min(1).optional(),
    /**
     * How peers' messages enter the gateway: "a2a" (OpenClaw's A2A channel: a conversation from a
     * named sender), "hooks" (POST /hooks/agent: untrusted webhook content), or "auto" (a2a when
     * the gateway's channels.a2a.enabled is true, else hooks).
     */
    bridge: z.enum(["auto", "a2a", "hooks"]).default("auto"),
    /** The gateway's openclaw.json (the A2A bridge keeps channels.a2a.peers in it); default ~/.openclaw/openclaw.json. */
    configFile: z.string().min(1).optional(),
  })
  .strict();

export const configSchema = z
  .object({
    identity: identityString.optional(),
    server: z.string().min(1).optional(),
    creds: z.string().min(1).optional(),
    /** What this machine offers to jobs (e.g. ["gpu"]); at most MAX_CAPABILITIES, checked here, not dropped later. */
    capabilities: z
      .array(identityString)
      .max(MAX_CAPABILITIES, { message: `at most ${MAX_CAPABILITIES} capabilities (a worker serves every subset of them)` })
      .default([]),
    gateway: gatewayConfigSchema.optional(),
    broker: z
      .object({
        stateDir: z.string().min(1).optional(),
        host: z.string().min(1).optional(),
        port: z.number().int().min(1).max(65535).optional(),
        monitorPort: z.number().int().min(1).max(65535).optional(),
        /** Leaf mode, on the hub: where Macs' leaf servers connect (default 7422). */
        leafPort: z.number().int().min(1).max(65535).optional(),
        /** Leaf mode, on the hub: the address the hub tells leaves (its tailnet name:port). */
        leafAdvertise: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /**
     * Leaf mode (README "Offline-first Macs"): this Mac runs its own leaf nats-server, linked to the
     * hub; `server` is that leaf (nats://127.0.0.1:<leaf.port>). Written by `mesh init --leaf`.
     */
    leaf: z
      .object({
        /** This Mac's name: its JetStream domain is mac-<mac>, its outbox OUTBOX-<mac>. */
        mac: identityString,
        /** The hub's leafnode address (nats-leaf://host:7422), without credentials. */
        hub: z.string().min(1),
        /** The leaf credential the admin issued for this Mac (`mesh broker add-mac`), 0600. */
        credential: z.string().min(1),
        /** The leaf server's client port on 127.0.0.1 (the sidecar and the CLI connect here). */
        port: z.number().int().min(1).max(65535),
        /** The leaf server's monitoring port on 127.0.0.1 (link state, backlog). */
        monitorPort: z.number().int().min(1).max(65535),
        /** Its config, store and log. */
        stateDir: z.string().min(1),
      })
      .strict()
      .optional(),
    /** Fan-out rules: react to events anywhere on the mesh (README "Hooks and alerts"). */
    hooks: z
      .array(ruleSchema)
      .default([])
      .superRefine((rules, ctx) => {
        const seen = new Set<string>();
        rules.forEach((r, i) => {
          if (seen.has(r.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate rule name ${r.name}` });
          seen.add(r.name);
        });
      }),
    /** Shared repos: local clones and the remote each follows (README "Shared repos"). */
    repos: reposSchema.optional(),
    /** Peer-down alerts, sent once for the whole mesh by whichever sidecar holds the alerter lease. */
    alerts: z
      .object({
        channel: z.string().min(1).default("imessage"),
        to: z.string().min(1),
        /** A peer must be silent this long before it is reported down (flapping below it is not). */
        downAfterMs: z.number().int().min(1000).default(90_000),
      })
      .strict()
      .optional(),
    sidecar: z
      .object({
        /** Loopback port for /healthz and /metrics (0 = off). */
        httpPort: z.number().int().min(0).max(65535).optional(),
        stateDir: z.string().min(1).optional(),
        jobConcurrency: z.number().int().min(1).max(64).optional(),
        /** Job queues this machine serves (default ["default"]); false-y list disables jobs. */
        jobQueues: z.array(identityString).optional(),
        jobs: z.boolean().optional(),
        /** Ack wait of this identity's inbox consumer (default 30 s); also how long a restart after a crash waits. */
        inboxAckWaitMs: z.number().int().min(1000).max(600_000).optional(),
        /**
         * Other A2A clients on this Mac (curl, another agent framework) that may send as this identity
         * through the sidecar's endpoint: a name and a file holding its bearer token (0600).
         */
        a2aClients: z.array(z.object({ name: z.string().min(1).max(64), tokenFile: z.string().min(1) }).strict()).max(32).optional(),
        /**
         * Opt-in: also serve the A2A server (only it) beyond loopback, on this address (a tailnet IP
         * or name), for A2A clients on other machines; they need a token from a2aClients.
         */
        a2aHost: z.string().min(1).max(253).optional(),
        /** Port of that listener (default 9471, ports.ts: the web view keeps 9470). */
        a2aPort: z.number().int().min(1).max(65535).optional(),
        /** Automatic answers between agents in a row (A2A bridge; default 1: a message is answered, an answer is not). */
        maxHops: z.number().int().min(0).max(10).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type MeshConfig = z.infer<typeof configSchema>;

/** The configuration when there is no file. */
export const EMPTY_CONFIG: MeshConfig = { capabilities: [], hooks: [] };

/** Reads and validates a config file; a missing file is an empty config unless `required`. */
export function loadConfigFile(path: string, required = false): MeshConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && !required) return EMPTY_CONFIG;
    throw new ConfigError(`config ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${path}: not valid JSON (${(err as Error).message.split("\n")[0]})`);
  }
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    let line = zodLine(parsed.error);
    // Name a bad hook rule by its name, not its index.
    const m = /^hooks\.(\d+)(\.|:)/.exec(line);
    const rules = (data as { hooks?: Array<{ name?: unknown }> })?.hooks;
    if (m && Array.isArray(rules)) {
      const name = rules[Number(m[1])]?.name;
      if (typeof name === "string") line = line.replace(/^hooks\.\d+/, `hook rule "${name}"`);
    }
    throw new ConfigError(`config ${path}: ${line}`);
  }
  return parsed.data;
}

