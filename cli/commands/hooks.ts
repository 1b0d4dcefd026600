import { jetstreamManager } from "@nats-io/jetstream";
import { hostname } from "node:os";
import { identityFromHostname } from "../../subjects/mod.js";
import { STREAMS } from "../../broker/definitions.js";
import { hookConsumerName } from "../../src/hooks/runner.js";
import { runAction } from "../../src/hooks/actions.js";
import { sampleEvent } from "../../src/hooks/sample.js";
import { MeshError } from "../../src/errors.js";
import type { GlobalOptions } from "../../src/config.js";
import { printJson, resolved, withConnection } from "./common.js";

export async function list(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const r = await resolved(opts);
  const self = r.identity ?? identityFromHostname(hostname());
  const rules = r.config.hooks;
  if (rules.length === 0) {
    process.stdout.write(`no hook rules in ${r.configPath} (see README "Hooks and alerts")\n`);
    return;
  }
  const rows = await withConnection(r, async (nc) => {
    const jsm = await jetstreamManager(nc);
    const out = [];
    for (const rule of rules) {
      let lag: number | undefined;
      let inFlight: number | undefined;
      try {
        const ci = await jsm.consumers.info(STREAMS.events, hookConsumerName(self, rule.name));
        lag = ci.num_pending;
        inFlight = ci.num_ack_pending;
      } catch {
        /* the sidecar has not started this rule yet */
      }
      out.push({ name: rule.name, on: rule.on, action: rule.action.type, when: rule.when ?? null, lag, inFlight });
    }
    return out;
  });
  if (opts.json) return printJson(rows);
  for (const row of rows) {
    const lag = row.lag === undefined ? "not started" : `lag ${row.lag}${row.inFlight ? ` (+${row.inFlight} in flight)` : ""}`;
    process.stdout.write(`${row.name.padEnd(20)} ${row.on.padEnd(28)} ${row.action.padEnd(8)} ${lag}${row.when ? `  when ${JSON.stringify(row.when)}` : ""}\n`);
  }
}

export async function test(name: string, opts: GlobalOptions): Promise<number> {
  const r = await resolved(opts);
  const rule = r.config.hooks.find((h) => h.name === name);
  if (!rule) throw new MeshError(`no hook rule named ${JSON.stringify(name)} in ${r.configPath}`);
  const self = r.identity ?? identityFromHostname(hostname());
  const { subject, env } = sampleEvent(rule, self);
  let gateway: import("../../src/sidecar/types.js").GatewayPort | undefined;
  if (rule.action.type !== "webhook") {
    const { gatewayFromConfig } = await import("../../src/sidecar/from-config.js");
    gateway = gatewayFromConfig(r);
  }
  const res = await runAction(rule.action, env, subject, {
    gateway: gateway ?? { url: "", startTurn: async () => ({ ok: false, status: 0, retryable: false, reason: "no gateway" }) },
    wake: (text) => gateway?.wake?.(text) ?? Promise.resolve({ ok: false as const, status: 0, retryable: false, reason: "no gateway" }),
    ruleName: rule.name,
  });
  if (res.ok) {
    process.stdout.write(`rule ${name} fired (${rule.action.type}, HTTP ${res.status}) with a sample ${subject} event\n`);
    return 0;
  }
  throw new MeshError(`rule ${name} failed: ${res.reason}${res.retryable ? " (would be retried)" : " (would be dead-lettered)"}`);
}
