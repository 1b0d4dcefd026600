/** `mesh peers`: every identity on the mesh. register() declares it; the action loads what it runs. */
import type { Command } from "@commander-js/extra-typings";
import { formatDuration } from "../../src/base/duration.js";
import type { GlobalOptions } from "../../src/config/config.js";
import { jsonFlag, printJson, resolved, run, withConnection } from "./common.js";

export function register(program: Command): void {
  program
    .command("peers")
    .description("list every identity on the mesh as online / stale / offline")
    .addOption(jsonFlag("print as JSON"))
    .action(run(peers));
}

async function peers(opts: GlobalOptions & { json?: boolean }): Promise<void> {
  const { listPeers } = await import("../../src/features/presence/presence.js");
  const r = await resolved(opts);
  const list = await withConnection(r, (nc) => listPeers(nc));
  if (opts.json) return printJson(list);
  if (list.length === 0) {
    process.stdout.write("no peers yet (start a sidecar with `mesh sidecar` or `mesh up`)\n");
    return;
  }
  const rows = list.map((p) => [
    p.identity,
    p.state,
    p.presence?.host ?? "-",
    p.presence ? `gateway ${p.presence.gateway}` : "-",
    p.presence?.capabilities.join(",") || "-",
    p.ageMs !== undefined ? `seen ${formatDuration(p.ageMs)} ago` : "-",
    p.inbox ? `${p.inbox.waiting} waiting` : "-",
  ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
}
