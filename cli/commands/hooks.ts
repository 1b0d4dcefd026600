/** `mesh hooks list|test`: the fan-out rules. register() declares them; each action loads what it runs. */
import { hostname } from "node:os";
import { join } from "node:path";
import type { Command } from "@commander-js/extra-typings";
import { identityFromHostname } from "../../subjects/identity.js";
import type { AgentPort } from "../../src/agent/port.js";
import { MeshError } from "../../src/base/errors.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, printJson, configFor, run, withConnection } from "./common.js";

export function register(program: Command): void {
  const hooks = program.command("hooks").description("fan-out rules: react to events anywhere on the mesh");

  hooks
    .command("list")
    .description("the rules in the config and how far behind each one is (lag)")
    .addOption(jsonFlag("print as JSON"))
    .action(run(list));

  hooks
    .command("test")
    .description("fire one rule's action now with a sample event matching its filter")
    .argument("<rule>", "rule name")
    .action(run(test));
}

async function list(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const [{ ruleStatus }, { HOOK_STATS_FILE, readHookStats }] = await Promise.all([import("../../src/features/hooks/status.js"), import("../../src/features/hooks/stats-file.js")]);
  const r = await configFor(opts);
  const self = r.identity ?? identityFromHostname(hostname());
  const rules = r.config.hooks;
  if (rules.length === 0) {
    process.stdout.write(`no hook rules in ${r.configPath} (see README "Hooks and alerts")\n`);
    return;
  }
  const { sidecarStateDir } = await import("../../src/config/config.js");
  const stats = readHookStats(join(sidecarStateDir(r, self), HOOK_STATS_FILE));
  const rows = await withConnection(r, (nc) => ruleStatus(nc, self, rules, stats));
  if (opts.json) return printJson(rows);
  for (const row of rows) {
    const lag = row.lag === undefined ? "not started" : `lag ${row.lag}${row.inFlight ? ` (+${row.inFlight} in flight)` : ""}`;
    const counts = row.fired === undefined ? "" : `  fired ${row.fired}, skipped ${row.skipped ?? 0}, refused ${row.refused ?? 0}, dead-lettered ${row.deadLettered ?? 0}`;
    process.stdout.write(`${row.name.padEnd(20)} ${row.on.padEnd(28)} ${row.action.padEnd(8)} ${lag}${counts}${row.from ? `  from ${row.from.join(",")}` : ""}${row.when ? `  when ${JSON.stringify(row.when)}` : ""}\n`);
    if (row.lastRefusal) process.stdout.write(`  last refused: ${row.lastRefusal}\n`);
  }
}

async function test(name: string, opts: GlobalOptions): Promise<number> {
  const { testRule } = await import("../../src/features/hooks/status.js");
  const r = await configFor(opts);
  const rule = r.config.hooks.find((h) => h.name === name);
  if (!rule) throw new MeshError(`no hook rule named ${JSON.stringify(name)} in ${r.configPath}`);
  const self = r.identity ?? identityFromHostname(hostname());
  const { agentFromConfig } = await import("../../src/sidecar/from-config.js");
  // A webhook action never touches the gateway: no gateway configuration needed for it.
  const agent = rule.action.type === "webhook" ? NO_AGENT : await agentFromConfig(r, { watch: false });
  const { subject, result: res } = await testRule(rule, self, agent);
  if (res.ok) {
    process.stdout.write(`rule ${name} fired (${rule.action.type}, HTTP ${res.status}) with a sample ${subject} event\n`);
    return 0;
  }
  throw new MeshError(`rule ${name} failed: ${res.reason}${res.retryable ? " (would be retried)" : " (would be dead-lettered)"}`);
}

const refused = async () => ({ ok: false as const, status: 0, retryable: false, reason: "no gateway" });
const NO_AGENT: AgentPort = { url: "", bridge: "none", deliver: refused, runJob: refused, automation: refused, wake: refused };
