import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { BUCKETS, STREAMS, dlqStreamName, hooksStreamName, inboxConsumerName, inboxStreamName } from "../../subjects/names.js";
import { encodeEnvelope, eventSubject, identityFromHostname, newEnvelope, presenceSchema } from "../../subjects/mod.js";
import { checkService } from "./service.js";
import type { Resolved } from "../config/config.js";
import { assertPrivateFile } from "../base/files.js";
import { connectMesh, parseServers } from "../bus/connection.js";
import { postAgentHook } from "../agent/openclaw-hooks/hooks-client.js";
import { chooseBridge, gatewayEndpoint } from "../sidecar/from-config.js";
import { sidecarStateDir } from "../config/config.js";
import { repoHealth, reposStatePath } from "../features/repos/mod.js";
import { STALE_AFTER_MS } from "../features/presence/presence.js";
import { BrokerUnreachableError, CredentialsRefusedError } from "../base/errors.js";
import { firstLine, permissionDenied } from "../base/nats-errors.js";

export interface Check {
  name: string;
  status: "ok" | "fail" | "skip";
  detail: string;
  fix?: string;
}

const MAX_SKEW_MS = 2000;

/** Thrown past the "provisioned" failure, so the checks that need the streams are skipped, not failed. */
class NotProvisioned extends Error {}

/** `mesh doctor`: every check with a one-line fix for each failure. */
export async function doctor(r: Resolved, opts: { platform?: NodeJS.Platform } = {}): Promise<Check[]> {
  const checks: Check[] = [];
  const self = r.identity ?? identityFromHostname(hostname());
  const add = (c: Check): void => void checks.push(c);
  const skipAll = (names: string[], why: string): void => names.forEach((name) => add({ name, status: "skip", detail: why }));

  // Credentials file hygiene.
  if (r.creds) {
    try {
      assertPrivateFile(r.creds);
      add({ name: "credential file", status: "ok", detail: `${r.creds} is private` });
    } catch (err) {
      add({ name: "credential file", status: "fail", detail: (err as Error).message, fix: `chmod 600 ${r.creds}` });
    }
  }

  let nc: NatsConnection | undefined;
  // Never print a password that was given in the URL.
  const where = parseServers(r.server).servers.join(",");
  try {
    nc = await connectMesh({ server: r.server, ...(r.creds ? { creds: r.creds } : {}), timeoutMs: 3000, name: "mesh-doctor", identity: self });
    add({ name: "broker reachable", status: "ok", detail: `${where} (nats-server ${nc.info?.version ?? "?"})` });
  } catch (err) {
    add({
      name: "broker reachable",
      status: "fail",
      detail: (err as Error).message,
      fix: err instanceof CredentialsRefusedError
        ? "ask the broker admin for a new credential: mesh broker add-identity <id>"
        : err instanceof BrokerUnreachableError
          ? "start it (`mesh up` or `mesh broker up`) or fix --server / MESH_SERVER"
          : "fix the credential or identity named above (--creds, --identity, or the config)",
    });
  }
  const leaf = r.config.leaf;
  if (leaf && nc) {
    // Leaf mode: `server` is this Mac's leaf server; the hub is across the link.
    const { linkLine, linkState } = await import("./leaf-link.js");
    try {
      const link = await linkState(nc, leaf.mac, leaf.stateDir, [self]);
      add(
        link.connected
          ? { name: "link to the hub", status: "ok", detail: linkLine(leaf.mac, link) }
          : {
              name: "link to the hub",
              status: "fail",
              detail: linkLine(leaf.mac, link),
              fix: "mail is queued on this Mac meanwhile; check that the hub's Mac is awake and on the tailnet (tailscale ping <hub>) and that the leaf service runs",
            },
      );
    } catch (err) {
      add({ name: "link to the hub", status: "fail", detail: firstLine(err), fix: `this Mac's leaf layout is missing: start its sidecar (it makes OUTBOX-${leaf.mac})` });
    }
  }
  const brokerChecks = ["jetstream", "provisioned", "permissions", "clock skew", "sidecar running"];
  if (!nc) skipAll(brokerChecks, "broker unreachable");
  else {
    try {
      if (!nc.info?.jetstream) throw new Error("JetStream is off");
      const jsm = await jetstreamManager(nc);
      const acct = await jsm.getAccountInfo();
      add({ name: "jetstream", status: "ok", detail: `on (${acct.streams} streams, ${acct.consumers} consumers)` });
      const missing: string[] = [];
      // Its copy of the events only with hook rules (an identity added with --no-hooks has none).
      for (const s of [...Object.values(STREAMS), ...Object.values(BUCKETS).map((b) => `KV_${b}`), inboxStreamName(self), dlqStreamName(self), ...(r.config.hooks?.length ? [hooksStreamName(self)] : [])]) {
        await jsm.streams.info(s).catch(() => missing.push(s));
      }
      await jsm.consumers.info(inboxStreamName(self), inboxConsumerName(self)).catch(() => missing.push(`${inboxStreamName(self)}/${inboxConsumerName(self)}`));
      add(
        missing.length
          ? { name: "provisioned", status: "fail", detail: `missing: ${missing.join(", ")}`, fix: `mesh broker provision --for ${self}` }
          : { name: "provisioned", status: "ok", detail: "streams, buckets and this identity's inbox consumer are there" },
      );
      // The checks below use EVENTS and mesh-presence: without them they would only repeat this failure.
      if (missing.length) throw new NotProvisioned();
      // Permission + clock: publish one event of our own and compare the broker's timestamp.
      const js = jetstream(nc);
      const env = newEnvelope({ from: self, to: "*", kind: "event", type: "doctor.check", body: { host: hostname() } });
      const t0 = Date.now();
      const ack = await js.publish(eventSubject(self, "doctor", "check"), encodeEnvelope(env), { msgID: env.id });
      const t1 = Date.now();
      add({ name: "permissions", status: "ok", detail: `can publish events.${self}.> and use JetStream` });
      const stored = await jsm.streams.getMessage(STREAMS.events, { seq: ack.seq });
      const skew = (stored?.time.getTime() ?? t1) - (t0 + t1) / 2;
      add(
        Math.abs(skew) <= MAX_SKEW_MS + (t1 - t0) / 2
          ? { name: "clock skew", status: "ok", detail: `${Math.round(skew)} ms vs the broker` }
          : { name: "clock skew", status: "fail", detail: `${Math.round(skew)} ms vs the broker`, fix: "turn on network time (macOS: System Settings → General → Date & Time; Linux: timedatectl set-ntp true)" },
      );
      const kv = await new Kvm(nc).open(BUCKETS.presence);
      const e = await kv.get(self);
      const p = e && e.operation === "PUT" ? presenceSchema.safeParse(JSON.parse(e.string())) : undefined;
      const age = p?.success ? Date.now() - Date.parse(p.data.lastSeen) : undefined;
      add(
        age !== undefined && age <= STALE_AFTER_MS
          ? { name: "sidecar running", status: "ok", detail: `${self} heartbeat ${Math.round(age / 1000)}s ago, gateway ${p!.data!.gateway}` }
          : { name: "sidecar running", status: "fail", detail: age === undefined ? `no heartbeat from ${self}` : `last heartbeat ${Math.round(age / 1000)}s ago`, fix: "start it: mesh sidecar (or the service: see `sidecar service` below)" },
      );
    } catch (err) {
      const msg = (err as Error).message;
      if (err instanceof NotProvisioned) skipAll(["permissions", "clock skew", "sidecar running"], "the broker is not provisioned (see above)");
      else add({
        name: checks.some((c) => c.name === "jetstream") ? "permissions" : "jetstream",
        status: "fail",
        detail: msg,
        fix: permissionDenied(err) ? "the credential lacks permissions: reissue it with mesh broker add-identity" : "run nats-server with JetStream (-js), e.g. `mesh broker up`",
      });
    }
    await nc.close();
  }

  // Gateway.
  let endpoint;
  try {
    endpoint = gatewayEndpoint(r);
  } catch (err) {
    add({ name: "gateway reachable", status: "skip", detail: "no gateway configured" });
    add({ name: "hooks token", status: "fail", detail: (err as Error).message, fix: "mesh init --configure-gateway (or set gateway.hooksTokenFile)" });
  }
  if (endpoint) {
    try {
      await fetch(endpoint.url, { signal: AbortSignal.timeout(3000) });
      add({ name: "gateway reachable", status: "ok", detail: endpoint.url });
      // An empty payload: 400 (token accepted, nothing run) or 401 (wrong token).
      const res = await postAgentHook(endpoint, {} as never, { timeoutMs: 5000 });
      if (!res.ok && res.status === 401) add({ name: "hooks token", status: "fail", detail: "the gateway refused the hooks token (401)", fix: "copy hooks.token from ~/.openclaw/openclaw.json into the hooks token file, or run mesh init --configure-gateway" });
      else if (!res.ok && res.status === 404) add({ name: "hooks token", status: "fail", detail: "hooks are not enabled on the gateway (404)", fix: "mesh init --configure-gateway, then openclaw gateway restart" });
      else add({ name: "hooks token", status: "ok", detail: `accepted (${res.status})` });
    } catch (err) {
      add({ name: "gateway reachable", status: "fail", detail: `no answer at ${endpoint.url}`, fix: "start the gateway: openclaw gateway" });
      add({ name: "hooks token", status: "skip", detail: "gateway unreachable" });
      void err;
    }
  }

  // Which bridge carries peers' messages into the gateway, and why.
  if (endpoint) {
    const choice = chooseBridge(r);
    add({
      name: "bridge",
      status: "ok",
      detail:
        choice.bridge === "a2a"
          ? `A2A channel: peers' messages arrive as conversations from named senders (${choice.why})`
          : `hooks: peers' messages arrive as untrusted webhook content (${choice.why})`,
      ...(choice.bridge === "hooks" ? { fix: "mesh init --configure-gateway enables the gateway's A2A channel" } : {}),
    });
    // Which path a job this Mac runs takes into its agent (the same choice as peers' messages).
    add(
      r.config.sidecar?.jobs === false
        ? { name: "jobs", status: "ok", detail: "this machine runs no jobs (sidecar.jobs is false)" }
        : choice.bridge === "a2a"
          ? { name: "jobs", status: "ok", detail: "jobs: through the A2A channel (work from a named peer, with the agent's tools)" }
          : {
              name: "jobs",
              status: "ok",
              detail: "jobs: through /hooks/agent (untrusted automation framing: the agent is told not to run commands a job asks for)",
              fix: "mesh init --configure-gateway enables the gateway's A2A channel",
            },
    );
  }

  // Shared repos: one line each (the clone and its remote, the push hooks, the last fetch).
  const stateFile = reposStatePath(sidecarStateDir(r, self));
  for (const repo of r.config.repos ?? []) {
    const h = await repoHealth(repo, stateFile);
    add({ name: `repo ${repo.name}`, status: h.ok ? "ok" : "fail", detail: h.detail, ...(h.fix ? { fix: h.fix } : {}) });
  }

  // Tailscale, when used.
  if (spawnSync("sh", ["-c", "command -v tailscale"], { stdio: "ignore" }).status === 0) {
    const st = spawnSync("tailscale", ["status", "--json"], { encoding: "utf8", timeout: 10_000 });
    let state = "unknown";
    try {
      state = (JSON.parse(st.stdout) as { BackendState?: string }).BackendState ?? "unknown";
    } catch {
      /* not JSON */
    }
    add(
      state === "Running"
        ? { name: "tailscale", status: "ok", detail: "up" }
        : { name: "tailscale", status: "fail", detail: `state ${state}`, fix: "tailscale up (or mesh init --tailscale-key …)" },
    );
  }

  // The service: installed, valid (systemd-analyze / plutil) and running (systemctl / launchctl).
  add({ name: "sidecar service", ...checkService(opts.platform ?? process.platform) });
  return checks;
}
